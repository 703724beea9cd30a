"""AS-norm on synthetic embeddings: the statistics, the formula, and what it is for."""

from __future__ import annotations

import numpy as np
import pytest

from core.biometrics.score_norm import CohortStats, as_norm, as_norm_score, cohort_stats
from core.biometrics.scoring import cosine_similarities
from core.biometrics.thresholds import FloatArray


def _unit(x: FloatArray) -> FloatArray:
    out: FloatArray = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return out


def test_cohort_stats_use_the_top_n_cosines_only() -> None:
    probe = np.array([1.0, 0.0])
    # Cosines with the probe: 1.0, 0.8, 0.6, 0.0 (unit vectors at those cosines).
    cohort = np.array([[c, np.sqrt(1 - c * c)] for c in (1.0, 0.8, 0.6, 0.0)])
    stats = cohort_stats(probe, cohort, top_n=2)
    assert stats.mean == pytest.approx(0.9)
    assert stats.std == pytest.approx(0.1)
    everything = cohort_stats(probe, cohort, top_n=50)
    assert everything.mean == pytest.approx(np.mean([1.0, 0.8, 0.6, 0.0]))


def test_as_norm_standardises_against_both_sides() -> None:
    probe, template = CohortStats(0.2, 0.1), CohortStats(0.4, 0.05)
    assert as_norm(0.5, probe, template) == pytest.approx(0.5 * (3.0 + 2.0))
    # A score at both local impostor means is 0, whatever the spreads.
    assert as_norm(0.3, CohortStats(0.3, 0.2), CohortStats(0.3, 0.01)) == pytest.approx(0.0)


def test_as_norm_score_matches_its_parts() -> None:
    rng = np.random.default_rng(1)
    cohort = _unit(rng.normal(size=(30, 8)))
    probe, template = _unit(rng.normal(size=8)), _unit(rng.normal(size=8))
    raw = float(cosine_similarities(probe, template[None])[0])
    expected = as_norm(raw, cohort_stats(probe, cohort, 5), cohort_stats(template, cohort, 5))
    assert as_norm_score(raw, probe, template, cohort, 5) == pytest.approx(expected)


def test_as_norm_is_symmetric_in_probe_and_template() -> None:
    rng = np.random.default_rng(7)
    cohort = _unit(rng.normal(size=(40, 8)))
    a, b = _unit(rng.normal(size=8)), _unit(rng.normal(size=8))
    assert as_norm_score(0.3, a, b, cohort, 10) == pytest.approx(
        as_norm_score(0.3, b, a, cohort, 10)
    )


def test_a_voice_in_a_crowded_region_needs_a_higher_raw_score() -> None:
    """The same raw cosine is weaker evidence for a template the cohort crowds around."""
    rng = np.random.default_rng(3)
    hub = _unit(rng.normal(size=16))
    cohort = _unit(hub + 0.5 * rng.normal(size=(100, 16)))
    crowded = _unit(hub + 0.1 * rng.normal(size=16))
    lonely = _unit(-hub + 0.1 * rng.normal(size=16))
    probe = _unit(rng.normal(size=16))
    assert as_norm_score(0.5, probe, crowded, cohort, 20) < as_norm_score(
        0.5, probe, lonely, cohort, 20
    )


def test_degenerate_cohorts_are_refused() -> None:
    probe = np.array([1.0, 0.0])
    with pytest.raises(ValueError, match="top_n"):
        cohort_stats(probe, np.eye(2), top_n=1)
    with pytest.raises(ValueError, match="at least 2"):
        cohort_stats(probe, np.array([[1.0, 0.0]]), top_n=2)
    # Identical cohort scores: a floor on the spread instead of a division by zero.
    flat = cohort_stats(probe, np.array([[0.0, 1.0], [0.0, 1.0]]), top_n=2)
    assert flat.std > 0
