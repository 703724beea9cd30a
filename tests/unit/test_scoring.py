"""Template scoring rules and the logistic calibration."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from core.biometrics.scoring import (
    Calibration,
    ScoringConfig,
    TemplateRule,
    cllr,
    cosine_similarities,
    fit_calibration,
    template_score,
)

# Three unit templates at 0°, 90° and 60° in a plane; the probe is at 30°.
ANGLES = np.deg2rad([0.0, 90.0, 60.0])
TEMPLATES = np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1).astype(np.float32)
PROBE = np.array([np.cos(np.pi / 6), np.sin(np.pi / 6)], dtype=np.float32)


def test_cosine_ignores_vector_length() -> None:
    sims = cosine_similarities(3 * PROBE, 5 * TEMPLATES)
    assert sims == pytest.approx(np.cos(np.deg2rad([30.0, 60.0, 30.0])), abs=1e-6)


def test_cosine_rejects_mismatched_dimensions_and_zero_vectors() -> None:
    with pytest.raises(ValueError, match="shape"):
        cosine_similarities(np.ones(3), TEMPLATES)
    with pytest.raises(ValueError, match="zero"):
        cosine_similarities(np.zeros(2), TEMPLATES)


def test_template_rules() -> None:
    cos30, cos60 = np.cos(np.pi / 6), np.cos(np.pi / 3)
    best = template_score(PROBE, TEMPLATES, ScoringConfig(rule=TemplateRule.MAX))
    top2 = template_score(PROBE, TEMPLATES, ScoringConfig(rule=TemplateRule.MEAN_TOP_K, top_k=2))
    top9 = template_score(PROBE, TEMPLATES, ScoringConfig(rule=TemplateRule.MEAN_TOP_K, top_k=9))
    assert best == pytest.approx(cos30, abs=1e-6)
    assert top2 == pytest.approx(cos30, abs=1e-6)
    assert top9 == pytest.approx((2 * cos30 + cos60) / 3, abs=1e-6)
    # The centroid of 0°, 90° and 60° points at atan2(1 + sin60, 1 + cos60).
    centroid_angle = np.arctan2(1 + np.sin(np.pi / 3), 1 + cos60)
    centroid = template_score(PROBE, TEMPLATES, ScoringConfig(rule=TemplateRule.CENTROID))
    assert centroid == pytest.approx(np.cos(centroid_angle - np.pi / 6), abs=1e-6)


def test_template_score_needs_templates() -> None:
    with pytest.raises(ValueError, match="empty"):
        template_score(PROBE, np.zeros((0, 2)))


def _scores(seed: int = 0) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.7, 0.1, 200), rng.normal(0.2, 0.1, 2000)


def test_calibration_is_monotone_and_centred_between_the_classes() -> None:
    gen, imp = _scores()
    cal = fit_calibration(gen, imp, modality="face", model="dlib", version="1.0.0")
    assert cal.slope > 0
    grid = np.linspace(-1, 1, 101)
    assert np.all(np.diff(cal.scores(grid)) > 0)
    # Equal spreads and equal-prior weighting: P(genuine) = 0.5 about halfway between the means.
    assert 0.42 < cal.raw_for_score(0.5) < 0.48
    assert cal.score(0.9) > 0.99 and cal.score(0.0) < 0.01
    assert cal.llr(0.45) == pytest.approx(np.log(cal.score(0.45) / (1 - cal.score(0.45))))


def test_calibration_weights_the_classes_equally() -> None:
    gen, imp = _scores()
    few = fit_calibration(gen, imp[:200])
    many = fit_calibration(gen, imp)
    assert many.raw_for_score(0.5) == pytest.approx(few.raw_for_score(0.5), abs=0.02)


def test_calibration_of_separable_scores_is_finite() -> None:
    cal = fit_calibration([0.8, 0.85, 0.9], [0.1, 0.15, 0.2])
    assert np.isfinite(cal.slope) and np.isfinite(cal.intercept)
    assert cal.score(0.9) > 0.5 > cal.score(0.1)


def test_calibration_round_trips_as_json_and_inverts() -> None:
    gen, imp = _scores()
    cal = fit_calibration(gen, imp, modality="voice", model="resemblyzer", version="0.1.4")
    again = Calibration.model_validate_json(cal.model_dump_json())
    assert again == cal
    assert again.raw_for_score(again.score(0.5)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="calibrated"):
        again.raw_for_score(1.0)


def test_calibration_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="genuine and one impostor"):
        fit_calibration([0.9], [])


def test_cllr() -> None:
    assert cllr([0.0], [0.0]) == pytest.approx(1.0)
    assert cllr([50.0], [-50.0]) == pytest.approx(0.0, abs=1e-12)
    assert cllr([-50.0], [50.0]) > 50
    gen, imp = _scores()
    cal = fit_calibration(gen, imp)
    assert cllr(cal.llrs(gen), cal.llrs(imp)) < 0.2
