"""Error rates of a verifier from its genuine and impostor score sets.

Conventions used throughout: a higher score means "more likely the claimed person", and an
attempt is **accepted when ``score >= threshold``**. So, for a threshold ``t``:

- FMR(t)  = fraction of impostor scores ``>= t`` (false matches),
- FNMR(t) = fraction of genuine scores ``< t`` (false non-matches).

All figures are *empirical*: they are counts over the trials given, and their resolution is
bounded by the number of trials (one impostor trial out of ``n`` moves the FMR by ``1/n``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict
from scipy.stats import beta

# Counts are computed as floor(target * n); a tiny slack keeps e.g. 0.29 * 100 = 28.999… at 29.
_COUNT_SLACK = 1e-9

FloatArray = npt.NDArray[np.float64]
Scores = Sequence[float] | npt.NDArray[np.floating[Any]]


def _as_array(scores: Scores, what: str) -> FloatArray:
    arr = np.asarray(scores, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{what} scores are empty")
    if np.isnan(arr).any():
        raise ValueError(f"{what} scores contain NaN")
    return arr


def fmr_upper_bound(false_matches: int, impostor_trials: int, confidence: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper bound of the true FMR after ``false_matches`` errors.

    With zero errors this is close to the "rule of three" (3 / n at 95 %): an empirical FMR of 0
    over 300 impostor trials only says the true FMR is probably below 1 %.
    """
    if impostor_trials <= 0:
        raise ValueError("impostor_trials must be positive")
    if false_matches >= impostor_trials:
        return 1.0
    return float(beta.ppf(confidence, false_matches + 1, impostor_trials - false_matches))


def proportion_interval(errors: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Clopper–Pearson (exact binomial) interval of an error rate ``errors / trials``.

    The one interval every reported rate carries. It is conservative (coverage at least
    ``confidence``) and stays meaningful at 0 errors, where the Wald interval collapses to 0. It
    assumes independent trials: scores that share a subject are correlated, so read it as a
    lower bound on the real uncertainty. No trials give the uninformative ``(0, 1)``.
    """
    if trials < 0 or not 0 <= errors <= max(trials, 0):
        raise ValueError(f"need 0 <= errors <= trials, got {errors} / {trials}")
    if trials == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    low = 0.0 if errors == 0 else float(beta.ppf(alpha / 2, errors, trials - errors + 1))
    high = 1.0 if errors == trials else float(beta.ppf(1 - alpha / 2, errors + 1, trials - errors))
    return low, high


class Rate(BaseModel):
    """An error rate with its counts and 95 % interval (:func:`proportion_interval`)."""

    errors: int
    trials: int
    rate: float
    ci95: tuple[float, float]

    @classmethod
    def of(cls, errors: int, trials: int) -> Rate:
        return cls(
            errors=errors,
            trials=trials,
            rate=errors / trials if trials else math.nan,
            ci95=proportion_interval(errors, trials),
        )


def threshold_for_fmr(impostor_scores: Scores, target_fmr: float) -> float:
    """The smallest threshold whose empirical FMR is at most ``target_fmr``.

    With ``n`` impostor scores, at most ``k = floor(target_fmr * n)`` of them may be accepted, so
    the threshold is the smallest float strictly above the ``(k+1)``-th highest impostor score
    (acceptance is ``score >= threshold``). Ties are never split: all impostor scores equal to
    that value are rejected, so the achieved FMR may be below the target.

    Statistical resolution: when ``n < 1 / target_fmr`` then ``k = 0`` and the threshold is just
    above the *highest* impostor score seen. Its empirical FMR is 0, but that does not show the
    target is met — the data cannot resolve rates below ``1/n`` (see :func:`fmr_upper_bound`; at
    95 % confidence the true FMR may be up to about ``3/n``). Callers that report such a
    threshold should report ``n`` with it.
    """
    if not 0.0 < target_fmr < 1.0:
        raise ValueError("target_fmr must be in (0, 1)")
    imp = np.sort(_as_array(impostor_scores, "impostor"))[::-1]
    allowed = math.floor(target_fmr * imp.size + _COUNT_SLACK)
    # allowed < imp.size because target_fmr < 1, so the index exists.
    return float(np.nextafter(imp[allowed], math.inf))


class OperatingPoint(BaseModel):
    """Error rates at one threshold, with the trial counts they rest on."""

    model_config = ConfigDict(frozen=True)

    threshold: float
    fmr: float
    fnmr: float
    genuine_trials: int
    impostor_trials: int
    false_matches: int
    false_non_matches: int
    fmr_upper_95: float
    fmr_ci95: tuple[float, float]
    fnmr_ci95: tuple[float, float]


def operating_point(genuine: Scores, impostor: Scores, threshold: float) -> OperatingPoint:
    """FMR and FNMR of accepting ``score >= threshold``."""
    gen = _as_array(genuine, "genuine")
    imp = _as_array(impostor, "impostor")
    false_matches = int(np.count_nonzero(imp >= threshold))
    false_non_matches = int(np.count_nonzero(gen < threshold))
    return OperatingPoint(
        threshold=threshold,
        fmr=false_matches / imp.size,
        fnmr=false_non_matches / gen.size,
        genuine_trials=gen.size,
        impostor_trials=imp.size,
        false_matches=false_matches,
        false_non_matches=false_non_matches,
        fmr_upper_95=fmr_upper_bound(false_matches, imp.size),
        fmr_ci95=proportion_interval(false_matches, imp.size),
        fnmr_ci95=proportion_interval(false_non_matches, gen.size),
    )


def fnmr_at_fmr(genuine: Scores, impostor: Scores, fmr: float) -> OperatingPoint:
    """The operating point at :func:`threshold_for_fmr` (same resolution caveat)."""
    return operating_point(genuine, impostor, threshold_for_fmr(impostor, fmr))


class EerPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    eer: float
    threshold: float


class DetCurve(BaseModel):
    """FMR and FNMR at every distinct threshold, from "accept all" to "reject all".

    ``thresholds[0]`` is the lowest score, where every score is accepted (FMR = 1, FNMR = 0);
    the last threshold is ``+inf``, where every score is rejected (FMR = 0, FNMR = 1).
    """

    model_config = ConfigDict(frozen=True)

    thresholds: list[float]
    fmr: list[float]
    fnmr: list[float]

    def eer_point(self) -> EerPoint:
        """Equal error rate: where the curve crosses FMR = FNMR.

        Walking the thresholds upwards, FMR falls and FNMR rises. At the first threshold where
        FNMR >= FMR the curve has crossed the diagonal; when it lands exactly on it, that is
        the EER, otherwise the EER is where the straight segment between this DET point and
        the previous one meets the diagonal. The threshold reported is the one at the crossing
        DET point (the lowest threshold whose FNMR >= FMR).
        """
        fmr = np.asarray(self.fmr)
        fnmr = np.asarray(self.fnmr)
        # The last point (+inf: FNMR = 1, FMR = 0) guarantees a crossing; the first point
        # (FNMR = 0, FMR = 1) guarantees it is not at index 0, so there is a previous point.
        i = int(np.argmax(fnmr >= fmr))
        threshold = self.thresholds[i]
        if fnmr[i] == fmr[i]:
            return EerPoint(eer=float(fmr[i]), threshold=threshold)
        gap_before = fmr[i - 1] - fnmr[i - 1]  # > 0
        gap_after = fmr[i] - fnmr[i]  # < 0
        s = gap_before / (gap_before - gap_after)
        rate = fmr[i - 1] + s * (fmr[i] - fmr[i - 1])
        return EerPoint(eer=float(rate), threshold=threshold)


def det_curve(genuine: Scores, impostor: Scores) -> DetCurve:
    gen = np.sort(_as_array(genuine, "genuine"))
    imp = np.sort(_as_array(impostor, "impostor"))
    thresholds = np.append(np.unique(np.concatenate([gen, imp])), math.inf)
    # searchsorted(left) counts the scores strictly below each threshold.
    fnmr = np.searchsorted(gen, thresholds, side="left") / gen.size
    # Counted, then divided, so equal counts give bit-identical FMR and FNMR (no 1 - x rounding).
    fmr = (imp.size - np.searchsorted(imp, thresholds, side="left")) / imp.size
    return DetCurve(thresholds=thresholds.tolist(), fmr=fmr.tolist(), fnmr=fnmr.tolist())


def eer_point(genuine: Scores, impostor: Scores) -> EerPoint:
    """The EER and its threshold (see :meth:`DetCurve.eer_point`)."""
    return det_curve(genuine, impostor).eer_point()


def eer(genuine: Scores, impostor: Scores) -> float:
    """The equal error rate (see :meth:`DetCurve.eer_point`)."""
    return eer_point(genuine, impostor).eer


def d_prime(genuine: Scores, impostor: Scores) -> float:
    """Decidability index ``(mean_g - mean_i) / sqrt((var_g + var_i) / 2)`` (Daugman).

    Unlike the EER it keeps measuring separation once the score sets no longer overlap.
    Without spread (every genuine score equal, every impostor score equal) the two sets are
    two points: ``±inf`` when they differ, and 0 when they coincide, which is what a collapsed
    model (one output for every input) gives: no separation at all.
    """
    gen = _as_array(genuine, "genuine")
    imp = _as_array(impostor, "impostor")
    mean_g, mean_i = float(gen.mean()), float(imp.mean())
    spread = math.sqrt((float(gen.var()) + float(imp.var())) / 2)
    gap = mean_g - mean_i
    # The mean and variance of equal scores carry rounding noise (about 1e-16 of their size),
    # so a spread or a gap below 1e-9 of the scores' magnitude counts as none.
    negligible = 1e-9 * max(1.0, abs(mean_g), abs(mean_i))
    if spread > negligible:
        return gap / spread
    return math.copysign(math.inf, gap) if abs(gap) > negligible else 0.0
