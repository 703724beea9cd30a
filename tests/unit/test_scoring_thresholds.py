"""Error-rate functions on tiny score sets whose answers are computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.biometrics.thresholds import (
    d_prime,
    det_curve,
    eer,
    eer_point,
    fmr_upper_bound,
    fnmr_at_fmr,
    operating_point,
    proportion_interval,
    threshold_for_fmr,
)

TEN_IMPOSTORS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def test_threshold_allows_floor_target_times_n_false_matches() -> None:
    # 10 impostors at FMR 0.1: one may pass, so the threshold sits just above the 2nd highest.
    t = threshold_for_fmr(TEN_IMPOSTORS, 0.1)
    assert t == np.nextafter(0.8, math.inf)
    assert sum(s >= t for s in TEN_IMPOSTORS) == 1


def test_threshold_with_too_few_impostors_rejects_every_impostor_seen() -> None:
    # 10 < 1 / 0.05: no false match is allowed, the threshold is just above the highest score.
    t = threshold_for_fmr(TEN_IMPOSTORS, 0.05)
    assert t == np.nextafter(0.9, math.inf)
    assert operating_point([1.0], TEN_IMPOSTORS, t).fmr == 0.0


def test_threshold_never_splits_ties() -> None:
    # One false match allowed out of 4, but the top two are tied: both must be rejected.
    t = threshold_for_fmr([0.5, 0.5, 0.2, 0.1], 0.25)
    assert t == np.nextafter(0.5, math.inf)


def test_threshold_counts_are_robust_to_float_rounding() -> None:
    # 0.29 * 100 is 28.999... in floating point; 29 false matches are allowed.
    impostors = list(range(100))
    t = threshold_for_fmr(impostors, 0.29)
    assert sum(s >= t for s in impostors) == 29


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1])
def test_threshold_rejects_meaningless_targets(target: float) -> None:
    with pytest.raises(ValueError, match="target_fmr"):
        threshold_for_fmr(TEN_IMPOSTORS, target)


def test_empty_or_nan_scores_are_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        threshold_for_fmr([], 0.1)
    with pytest.raises(ValueError, match="NaN"):
        eer([0.5, math.nan], [0.1])


def test_fnmr_at_fmr() -> None:
    point = fnmr_at_fmr([0.3, 0.6, 0.8, 0.95], TEN_IMPOSTORS, 0.1)
    # threshold just above 0.8: 0.3, 0.6 and 0.8 are rejected; only the 0.9 impostor passes.
    assert point.fnmr == 0.75
    assert point.fmr == 0.1
    assert (point.false_matches, point.false_non_matches) == (1, 3)
    assert (point.genuine_trials, point.impostor_trials) == (4, 10)


def test_det_curve_points() -> None:
    curve = det_curve([0.9, 0.8, 0.7], [0.1, 0.2, 0.75])
    assert curve.thresholds == [0.1, 0.2, 0.7, 0.75, 0.8, 0.9, math.inf]
    assert curve.fmr == pytest.approx([1, 2 / 3, 1 / 3, 1 / 3, 0, 0, 0])
    assert curve.fnmr == pytest.approx([0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])


def test_eer_on_a_det_point() -> None:
    # At threshold 0.75: FMR = 1/3 (the 0.75 impostor), FNMR = 1/3 (the 0.7 genuine).
    point = eer_point([0.9, 0.8, 0.7], [0.1, 0.2, 0.75])
    assert point.eer == pytest.approx(1 / 3)
    assert point.threshold == 0.75


def test_eer_between_det_points() -> None:
    # At 0.5: FMR 1/2, FNMR 1/3; at 0.8: FMR 0, FNMR 1/3. The segment meets the diagonal at 1/3.
    point = eer_point([0.4, 0.8, 0.9], [0.1, 0.5])
    assert point.eer == pytest.approx(1 / 3)
    assert point.threshold == 0.8


def test_eer_of_separated_and_swapped_scores() -> None:
    assert eer([0.8, 0.9], [0.1, 0.2]) == 0.0
    assert eer([0.1, 0.2], [0.8, 0.9]) == 1.0


def test_eer_accepts_minus_infinity_as_always_rejected() -> None:
    # A genuine attempt rejected whatever the threshold is one false non-match everywhere.
    assert eer([-math.inf, 0.8, 0.9], [0.1, 0.2]) == pytest.approx(1 / 3)


def test_fmr_upper_bound_is_about_the_rule_of_three() -> None:
    assert fmr_upper_bound(0, 300) == pytest.approx(3 / 300, rel=0.01)
    assert fmr_upper_bound(5, 5) == 1.0
    assert fmr_upper_bound(1, 1000) > 1 / 1000


def test_d_prime() -> None:
    # Means 3 and 1, both variances 1 (population): d' = 2 / sqrt(1) = 2.
    assert d_prime([2.0, 4.0], [0.0, 2.0]) == pytest.approx(2.0)
    # No spread: two points, apart (perfectly separated) or together (no separation).
    assert d_prime([1.0], [0.0]) == math.inf
    assert d_prime([0.0, 0.0], [1.0]) == -math.inf
    assert d_prime([0.7, 0.7], [0.7, 0.7, 0.7]) == 0.0


def test_proportion_interval_is_clopper_pearson() -> None:
    # Reference values of the exact binomial interval (e.g. R's binom.test).
    low, high = proportion_interval(5, 100)
    assert low == pytest.approx(0.01643, abs=1e-4) and high == pytest.approx(0.11284, abs=1e-4)
    assert proportion_interval(0, 30_000)[0] == 0.0
    assert proportion_interval(0, 30_000)[1] == pytest.approx(1.2296e-4, rel=1e-3)
    assert proportion_interval(10, 10)[1] == 1.0
    assert proportion_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="errors <= trials"):
        proportion_interval(3, 2)


def test_operating_points_carry_their_intervals() -> None:
    point = fnmr_at_fmr([0.9, 0.8, 0.1], [0.0, 0.2, 0.3], 0.5)
    assert point.fnmr_ci95 == proportion_interval(point.false_non_matches, 3)
    assert point.fmr_ci95 == proportion_interval(point.false_matches, 3)
