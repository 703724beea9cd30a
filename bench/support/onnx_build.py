"""Linear adapters as ONNX graphs: the simplest embedder adapter (a ``[d_in, D]`` matrix).

Used to publish hand-made adapters (an orthogonal rotation keeps every score, so it is the
cheapest valid new version) and by the benchmarks; trained adapters come from the trainer.
"""

from __future__ import annotations

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from core.biometrics.policy import load_policy
from schemas.manifest import OperatingPoint
from schemas.model_catalog import BASE_VERSION, ModelRef

INPUT = "features"
OUTPUT = "embedding"
OPSET = 13


def linear_adapter(matrix: NDArray[np.float32], *, version: str | None = None) -> bytes:
    """``embedding = features @ matrix``, with a dynamic batch axis."""
    d_in, d_out = matrix.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", [INPUT, "weights"], [OUTPUT])],
        "linear_adapter",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", d_in])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", d_out])],
        initializer=[numpy_helper.from_array(matrix.astype(np.float32), "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    if version is not None:
        helper.set_model_props(model, {"version": version})
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised


def rotation(dim: int, seed: int) -> NDArray[np.float32]:
    """A random orthogonal matrix: cosine scores between embeddings are unchanged."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    rotated: NDArray[np.float32] = (q * np.sign(np.diag(r))).astype(np.float32)
    return rotated


def rotation_point(name: str, version: str) -> OperatingPoint:
    """The packaged model's operating point, restamped for ``name@version``: right for a
    rotation, which keeps every cosine and so every calibrated score."""
    base = load_policy().base_operating_points[str(ModelRef(name=name, version=BASE_VERSION))]
    return base.model_copy(update={"model": ModelRef(name=name, version=version)})
