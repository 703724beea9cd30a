"""Fusion rules and the missing-modality policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.special import expit

from core.biometrics.fusion import (
    FusionConfig,
    FusionRule,
    MissingPolicy,
    fit_logistic_fusion,
    fuse,
)


def _config(rule: FusionRule, **kw: object) -> FusionConfig:
    return FusionConfig.model_validate({"rule": rule, **kw})


def test_weighted_sum() -> None:
    config = _config(FusionRule.WEIGHTED_SUM, weights={"face": 1.0, "voice": 3.0})
    fused = fuse({"face": 0.2, "voice": 0.6}, config)
    assert fused.score == pytest.approx((0.2 + 3 * 0.6) / 4)
    assert fused.used == ("face", "voice") and fused.missing == ()


def test_product_is_the_weighted_geometric_mean() -> None:
    config = _config(FusionRule.PRODUCT, weights={"face": 1.0, "voice": 1.0})
    assert fuse({"face": 0.25, "voice": 1.0}, config).score == pytest.approx(0.5)


def test_llr_sum_adds_log_odds() -> None:
    config = _config(FusionRule.LLR_SUM)
    # odds 3 and odds 1/3 cancel; odds 3 and 3 give odds 9.
    assert fuse({"face": 0.75, "voice": 0.25}, config).score == pytest.approx(0.5)
    assert fuse({"face": 0.75, "voice": 0.75}, config).score == pytest.approx(0.9)


def test_llr_sum_stays_finite_with_saturated_scores() -> None:
    fused = fuse({"face": 1.0, "voice": 0.0}, _config(FusionRule.LLR_SUM))
    assert fused.score == pytest.approx(0.5)
    assert fuse({"face": 1.0, "voice": 1.0}).score == pytest.approx(1.0)


def test_missing_modality_is_rejected_by_default() -> None:
    fused = fuse({"face": 0.99, "voice": None})
    assert fused.score is None
    assert fused.missing == ("voice",)
    assert fused.reason == "missing modality: voice"
    assert not fused.accepts(0.0)
    # Absent from the mapping counts as missing too.
    assert fuse({"face": 0.99}).missing == ("voice",)


@pytest.mark.parametrize("rule", list(FusionRule))
def test_fuse_present_uses_what_is_there(rule: FusionRule) -> None:
    config = _config(rule, missing=MissingPolicy.FUSE_PRESENT)
    fused = fuse({"face": None, "voice": 0.8}, config)
    assert fused.score == pytest.approx(0.8)
    assert fused.used == ("voice",) and fused.missing == ("face",)
    assert fused.accepts(0.8) and not fused.accepts(0.81)


def test_fuse_present_with_nothing_present_rejects() -> None:
    config = _config(FusionRule.WEIGHTED_SUM, missing=MissingPolicy.FUSE_PRESENT)
    assert fuse({"face": None, "voice": None}, config).score is None


def test_bad_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="no fusion weight for modality iris"):
        fuse({"face": 0.5, "voice": 0.5, "iris": 0.5})
    with pytest.raises(ValueError, match="not a calibrated score"):
        fuse({"face": 1.5, "voice": 0.5})
    for weights in ({}, {"face": 0.0}, {"face": math.inf}):
        with pytest.raises(ValidationError):
            FusionConfig(weights=weights)


def test_logistic_adds_a_bias_to_weighted_log_odds() -> None:
    config = _config(FusionRule.LOGISTIC, weights={"face": 2.0, "voice": 0.5}, bias=-1.0)
    llr = 2.0 * math.log(3) + 0.5 * math.log(1 / 3) - 1.0
    assert fuse({"face": 0.75, "voice": 0.25}, config).score == pytest.approx(
        1 / (1 + math.exp(-llr))
    )
    # The bias is the logistic rule's alone: llr_sum ignores it.
    assert fuse({"face": 0.75, "voice": 0.25}, _config(FusionRule.LLR_SUM, bias=5.0)).score == (
        pytest.approx(0.5)
    )


def test_fit_logistic_fusion_weights_the_stronger_modality_and_separates() -> None:
    rng = np.random.default_rng(0)
    # Face LLRs separate well, voice LLRs barely: the fit should trust the face more.
    genuine = np.column_stack([rng.normal(4, 1, 400), rng.normal(0.5, 2, 400)])
    impostor = np.column_stack([rng.normal(-4, 1, 4000), rng.normal(-0.5, 2, 4000)])
    config = fit_logistic_fusion(genuine, impostor, ("face", "voice"))
    assert config.rule is FusionRule.LOGISTIC
    assert config.weights["face"] > config.weights["voice"] > 0
    fused = [
        fuse({"face": float(expit(f)), "voice": float(expit(v))}, config).score for f, v in genuine
    ]
    assert np.mean(np.array(fused) > 0.5) > 0.99


def test_fit_logistic_fusion_checks_its_input() -> None:
    with pytest.raises(ValueError, match="attempts, modalities"):
        fit_logistic_fusion(np.zeros((3, 1)), np.zeros((3, 2)), ("face", "voice"))
