"""A personal model as an ONNX graph, and its parity with the numpy reference.

``score[N] = max_k(scale_k * cos(embedding, prototype_k) + offset_k)``: the gateway runs the
same graph with onnxruntime that the trainer checked here, on the user's held-back rows.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from schemas.manifest import ParityCheck
from trainer.adapters.onnx_export import DEFAULT_TOLERANCE
from trainer.personal import PersonalParams
from trainer.pipeline import JobFailed

INPUT = "embedding"
OUTPUT = "score"
_OPSET = 13
FRAMEWORK = f"numpy-{np.__version__}"


def export_personal(params: PersonalParams) -> bytes:
    width = int(params.prototypes.shape[1])
    nodes = [
        helper.make_node("ReduceL2", [INPUT], ["norm"], axes=[1], keepdims=1),
        helper.make_node("Max", ["norm", "epsilon"], ["safe_norm"]),
        helper.make_node("Div", [INPUT, "safe_norm"], ["unit"]),
        helper.make_node("MatMul", ["unit", "prototypes_t"], ["cosines"]),
        helper.make_node("Mul", ["cosines", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "offset"], ["mapped"]),
        helper.make_node("ReduceMax", ["mapped"], [OUTPUT], axes=[1], keepdims=0),
    ]
    weights = {
        "prototypes_t": params.prototypes.T.astype(np.float32),
        "scale": params.scale.astype(np.float32),
        "offset": params.offset.astype(np.float32),
        "epsilon": np.asarray([1e-12], dtype=np.float32),
    }
    graph = helper.make_graph(
        nodes,
        "personal_voice_model",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch"])],
        initializer=[numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised


def run_personal(
    session: ort.InferenceSession, embeddings: NDArray[np.floating]
) -> NDArray[np.float32]:
    (scores,) = session.run(None, {INPUT: np.atleast_2d(embeddings).astype(np.float32)})
    result: NDArray[np.float32] = np.asarray(scores, dtype=np.float32)
    return result


def personal_parity(
    data: bytes,
    params: PersonalParams,
    probes: NDArray[np.floating],
    tolerance: float = DEFAULT_TOLERANCE,
) -> ParityCheck:
    """The exported graph against :meth:`PersonalParams.scores` on ``probes``; a gap over
    ``tolerance`` fails the job (``parity_failed``)."""
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    gap = float(np.max(np.abs(run_personal(session, probes) - params.scores(probes))))
    if gap > tolerance:
        raise JobFailed(
            "parity_failed", f"the ONNX personal model differs by {gap:.3g} (> {tolerance:.3g})"
        )
    return ParityCheck(
        framework=FRAMEWORK, samples=len(probes), max_abs_diff=gap, tolerance=tolerance
    )
