"""Audit finding 4: a score-inflating adapter keeps EER and d' but is refused by the canary."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from bench.support.onnx_build import INPUT, OPSET, OUTPUT
from core.biometrics.policy import load_policy
from core.registry import ModelRejected
from core.registry.canary import Canary, judge
from core.registry.onnx_model import load_adapter, offline_default
from schemas.model_catalog import BASE_VERSION, FACE_EMBEDDER, ModelRef
from tests.registry_kit import good, manifest_for

DIM = 128


def _canary(identities: int = 10, samples: int = 4, seed: int = 3) -> Canary:
    """Clustered unit vectors: genuine pairs close, impostor pairs near orthogonal."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((identities, DIM))
    rows = np.repeat(centres, samples, axis=0) + 0.35 * rng.standard_normal(
        (identities * samples, DIM)
    )
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    labels = [f"p{i}" for i in range(identities) for _ in range(samples)]
    return Canary(labels=labels, base=rows.astype(np.float32))


def _inflating(shift: float = 5.0, seed: int = 9) -> bytes:
    """``x + shift·u``: every embedding pulled towards one direction, so every cosine rises
    while the order of scores, and so EER and d', barely moves."""
    u: NDArray[np.float32] = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    u /= np.linalg.norm(u)
    graph = helper.make_graph(
        [helper.make_node("Add", [INPUT, "shift"], [OUTPUT])],
        "inflating",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", DIM])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", DIM])],
        initializer=[numpy_helper.from_array((shift * u)[None, :], "shift")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def test_a_score_inflating_adapter_is_refused_by_the_canary() -> None:
    canary = _canary()
    base_point = load_policy().base_operating_points[
        str(ModelRef(name=FACE_EMBEDDER, version=BASE_VERSION))
    ]
    active = canary.run(offline_default(FACE_EMBEDDER, base_point))
    inflating = _inflating()
    candidate = canary.run(load_adapter(inflating, manifest_for(inflating, FACE_EMBEDDER, "1.1.0")))
    # What the old canary looked at does not move enough to notice...
    assert candidate.eer <= active.eer + 0.02 and candidate.d_prime > 0
    # ...but where the impostor scores sit does.
    assert active.fmr_at_threshold is not None and candidate.fmr_at_threshold is not None
    assert candidate.fmr_at_threshold > 0.5 > active.fmr_at_threshold
    with pytest.raises(ModelRejected) as info:
        judge(candidate, active, eer_tolerance=0.02, dprime_tolerance=1.0, fmr_tolerance=0.01)
    assert info.value.reason == "score_inflation"

    honest = good(DIM)
    rotated = canary.run(load_adapter(honest, manifest_for(honest, FACE_EMBEDDER, "1.1.0")))
    judge(rotated, active, eer_tolerance=0.02, dprime_tolerance=1.0, fmr_tolerance=0.01)
