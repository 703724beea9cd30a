"""Loading adapters: every defect a published model can have is refused with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from bench.support.onnx_build import linear_adapter, rotation_point
from core.registry import ModelRejected, load_adapter, offline_default
from core.registry.canary import judge, separation
from schemas import IoSpec, TensorDType, TensorSpec
from tests.registry_kit import collapsing, good, manifest_for


def _rejected(data: bytes, **manifest: object) -> str:
    with pytest.raises(ModelRejected) as exc:
        load_adapter(data, manifest_for(good(128), "face-embedder", "1.1.0", **manifest))
    return exc.value.reason


def test_a_rotation_loads_and_keeps_scores() -> None:
    data = good(128)
    model = load_adapter(data, manifest_for(data, "face-embedder", "1.1.0"))
    base = np.random.default_rng(3).standard_normal((5, 128)).astype(np.float32)
    out = model.embed(base)
    assert out.shape == (5, 128) and model.version == "1.1.0"
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    assert np.allclose(out @ out.T, unit @ unit.T, atol=1e-5)
    # The offline default is the base embedding itself.
    assert np.allclose(offline_default("face-embedder", None).embed(base), unit, atol=1e-6)


def test_defects_are_refused_with_their_reason() -> None:
    assert _rejected(b"not an onnx model") == "invalid_onnx"
    # 64-d input: not the face slot's 128-d base embedding.
    narrow = linear_adapter(np.eye(64, dtype=np.float32))
    with pytest.raises(ModelRejected) as exc:
        load_adapter(narrow, manifest_for(narrow, "face-embedder", "1.1.0"))
    assert exc.value.reason == "io_spec_mismatch"
    # The graph is fine but the manifest declares another output.
    wrong = IoSpec(
        inputs=[TensorSpec(name="features", dtype=TensorDType.FLOAT32, shape=["batch", 128])],
        outputs=[TensorSpec(name="vector", dtype=TensorDType.FLOAT32, shape=["batch", 128])],
    )
    data = good(128)
    with pytest.raises(ModelRejected) as exc:
        load_adapter(data, manifest_for(data, "face-embedder", "1.1.0", io=wrong))
    assert exc.value.reason == "io_spec_mismatch"
    # Trained on other base features.
    assert _rejected(data, preprocessing="face-mtcnn-160") == "preprocessing_mismatch"
    # Not a swappable model.
    with pytest.raises(ModelRejected) as exc:
        load_adapter(data, manifest_for(data, "lip-reader", "1.1.0", operating_point=None))
    assert exc.value.reason == "unknown_model"
    # Scored without its own calibration, or with another version's: the operating FMR would
    # silently move.
    assert _rejected(data, operating_point=None) == "calibration_missing"
    assert _rejected(data, operating_point=rotation_point("face-embedder", "1.0.0")) == (
        "calibration_mismatch"
    )
    # Non-finite output on the probe batch.
    nan = linear_adapter(np.full((128, 8), np.nan, dtype=np.float32))
    with pytest.raises(ModelRejected) as exc:
        load_adapter(nan, manifest_for(nan, "face-embedder", "1.1.0"))
    assert exc.value.reason == "model_output_invalid"


def _clusters(
    rng: np.random.Generator, people: int, each: int
) -> tuple[NDArray[np.float32], list[str]]:
    centres = rng.standard_normal((people, 128))
    base = np.concatenate([c + 0.3 * rng.standard_normal((each, 128)) for c in centres])
    return base.astype(np.float32), [f"p{i}" for i in range(people) for _ in range(each)]


def test_canary_separation_and_judgement() -> None:
    base, labels = _clusters(np.random.default_rng(0), 4, 3)
    active = offline_default("face-embedder", None)
    rotated = load_adapter(good(128), manifest_for(good(128), "face-embedder", "1.1.0"))
    collapsed_bytes = collapsing(128)
    collapsed = load_adapter(
        collapsed_bytes, manifest_for(collapsed_bytes, "face-embedder", "2.0.0")
    )

    reference = separation(active.embed(base), labels)
    assert reference.eer == 0.0 and reference.d_prime > 5
    assert (reference.genuine_pairs, reference.impostor_pairs) == (12, 54)
    same = separation(rotated.embed(base), labels)
    assert abs(same.d_prime - reference.d_prime) < 1e-3
    judge(same, reference, eer_tolerance=0.02, dprime_tolerance=1.0)

    worse = separation(collapsed.embed(base), labels)
    assert worse.eer > 0.2
    with pytest.raises(ModelRejected) as exc:
        judge(worse, reference, eer_tolerance=0.02, dprime_tolerance=1.0)
    assert exc.value.reason == "canary_regression" and "EER" in exc.value.detail

    # One output for every input: every pair scores alike, no separation at all.
    flat = separation(np.ones((12, 128), dtype=np.float32) / np.sqrt(128), labels)
    assert (flat.eer, flat.d_prime) == (0.5, 0.0)
