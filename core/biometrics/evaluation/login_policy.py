"""A login policy as data, fitted on one set of people and measured, unchanged, on another.

A :class:`LoginPolicy` is what the gateway's decision applies to a login (``auth_gateway``'s
``DecisionPolicy`` carries the same figures): each modality's raw score is calibrated to an LLR
by its :class:`~core.biometrics.scoring.Calibration`; a calibrated score below the modality's
*floor* is a mismatch; otherwise the calibrated scores are fused and the attempt is accepted
when the fused score reaches ``accept_threshold``.

:func:`fit_login_policy` fits it on scored attempts:

1. the fusion: logistic regression of genuine against zero-effort impostor LLRs
   (:func:`~core.biometrics.fusion.fit_logistic_fusion`);
2. the floors and the accept threshold together: for each pair of candidate floors (each
   modality's floor set at one of :data:`FLOOR_FMRS` of the one-modality attack that forges it,
   or none), the lowest threshold that holds every target of :data:`TARGET_FMRS`; the pair that
   loses the fewest genuine attempts wins. A floor is what stops an attacker who holds one of
   the victim's factors: the victim's face with another voice is rejected by the voice floor.

:func:`measure_login_policy` applies a policy unchanged and counts decisions per attempt kind.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict
from scipy.special import expit

from core.biometrics.dataset import AttemptKind
from core.biometrics.fusion import FusionConfig, fit_logistic_fusion, fuse
from core.biometrics.scoring import Calibration
from core.biometrics.thresholds import (
    FloatArray,
    OperatingPoint,
    Rate,
    fnmr_at_fmr,
    threshold_for_fmr,
)

MODALITIES = ("face", "voice")
# What a login must hold: zero-effort impostors at 1e-4, each kind of attempt at 1e-3.
TARGET_FMRS: dict[str, float] = {
    AttemptKind.IMPOSTOR_BOTH.value: 1e-4,
    AttemptKind.IMPOSTOR_FACE.value: 1e-3,
    AttemptKind.IMPOSTOR_VOICE.value: 1e-3,
}
ALL_KINDS_FMR = 1e-3
# Candidate floors: the FMR each floor alone allows its one-modality attack (None: no floor).
FLOOR_FMRS: tuple[float | None, ...] = (None, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3)
# The attack a modality's floor stops: the attacker forges that modality.
_FORGED_BY = {"face": AttemptKind.IMPOSTOR_FACE, "voice": AttemptKind.IMPOSTOR_VOICE}
_TINY = 1e-12
_IMPOSTOR_KINDS = tuple(k.value for k in AttemptKind if k is not AttemptKind.GENUINE)


class LoginPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    calibrations: dict[str, Calibration]
    floors: dict[str, float]  # calibrated score below which a modality is a mismatch
    fusion: FusionConfig
    accept_threshold: float
    target_fmrs: dict[str, float]  # by impostor attempt kind, as fitted


class ScoredAttempts(BaseModel):
    """Per attempt: its kind and each modality's LLR (NaN: the sample failed to acquire)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    kinds: npt.NDArray[np.str_]
    llrs: dict[str, FloatArray]

    def acquired(self) -> npt.NDArray[np.bool_]:
        ok = np.ones(self.kinds.size, dtype=bool)
        for values in self.llrs.values():
            ok &= ~np.isnan(values)
        return ok


class PolicyFigures(BaseModel):
    """A policy's decisions on a set of attempts (acquired in both modalities)."""

    fnmr: Rate
    fmr: dict[str, Rate]  # by impostor kind, and "all" pooled
    failed_to_acquire: dict[str, int]  # attempts left out, by kind
    rejected_by_floor: dict[str, int]  # by kind, attempts a floor rejected
    # The policy's calibration, fusion and floors, re-thresholded at each target on these
    # attempts (an oracle threshold): zero-effort at 1e-4 and every kind pooled at 1e-3.
    fnmr_at_fmr_1e_4_zero_effort: OperatingPoint
    fnmr_at_fmr_1e_3_all_kinds: OperatingPoint
    # The fused score alone, without floors, against zero-effort impostors: what the fusion
    # achieves when nobody holds one of the victim's factors.
    fused_only_fnmr_at_fmr_1e_4_zero_effort: OperatingPoint


def _fused(attempts: ScoredAttempts, fusion: FusionConfig) -> FloatArray:
    n = attempts.kinds.size
    posteriors = {m: expit(v) for m, v in attempts.llrs.items()}
    out = np.full(n, -math.inf)
    for i in range(n):
        scores = {m: None if math.isnan(p[i]) else float(p[i]) for m, p in posteriors.items()}
        fused = fuse(scores, fusion).score
        if fused is not None:
            out[i] = fused
    return out


def _floor_pass(attempts: ScoredAttempts, floors: Mapping[str, float]) -> npt.NDArray[np.bool_]:
    ok = np.ones(attempts.kinds.size, dtype=bool)
    for modality, floor in floors.items():
        with np.errstate(invalid="ignore"):
            ok &= expit(attempts.llrs[modality]) >= floor
    return ok


def _threshold(decision: FloatArray, kinds: npt.NDArray[np.str_]) -> float:
    """The lowest threshold holding every target of :data:`TARGET_FMRS` and the pooled one."""
    targets = [(decision[kinds == k], fmr) for k, fmr in TARGET_FMRS.items()]
    targets.append((decision[kinds != AttemptKind.GENUINE], ALL_KINDS_FMR))
    limits = [threshold_for_fmr(scores, fmr) for scores, fmr in targets if scores.size]
    return max(limits, default=-math.inf)


def fit_login_policy(
    attempts: ScoredAttempts, calibrations: Mapping[str, Calibration]
) -> LoginPolicy:
    """Fit fusion, floors and threshold on ``attempts`` (see the module docstring)."""
    usable = attempts.acquired()
    kinds = attempts.kinds[usable]
    llrs = {m: v[usable] for m, v in attempts.llrs.items()}
    matrix = np.column_stack([llrs[m] for m in MODALITIES])
    fusion = fit_logistic_fusion(
        matrix[kinds == AttemptKind.GENUINE], matrix[kinds == AttemptKind.IMPOSTOR_BOTH], MODALITIES
    )
    scored = ScoredAttempts(kinds=kinds, llrs=llrs)
    fused = _fused(scored, fusion)
    candidates: dict[str, list[float]] = {}
    for modality in MODALITIES:
        forged = expit(llrs[modality][kinds == _FORGED_BY[modality]])
        candidates[modality] = [
            0.0 if fmr is None else threshold_for_fmr(forged, fmr) for fmr in FLOOR_FMRS
        ]
    best: tuple[float, dict[str, float], float] | None = None
    genuine = kinds == AttemptKind.GENUINE
    for pair in itertools.product(*(candidates[m] for m in MODALITIES)):
        floors = dict(zip(MODALITIES, pair, strict=True))
        decision = np.where(_floor_pass(scored, floors), fused, -math.inf)
        threshold = _threshold(decision, kinds)
        fnmr = float(np.mean(decision[genuine] < threshold))
        if best is None or fnmr < best[0]:
            best = (fnmr, floors, threshold)
    assert best is not None  # FLOOR_FMRS is not empty
    _, floors, threshold = best
    return LoginPolicy(
        calibrations=dict(calibrations),
        floors=floors,
        fusion=fusion,
        # A decision policy's threshold is inside (0, 1): clamp when nothing was left to reject.
        accept_threshold=min(max(threshold, _TINY), math.nextafter(1.0, 0.0)),
        target_fmrs={**TARGET_FMRS, "all": ALL_KINDS_FMR},
    )


def measure_login_policy(attempts: ScoredAttempts, policy: LoginPolicy) -> PolicyFigures:
    """Decisions of ``policy``, unchanged, on ``attempts`` (FTA attempts counted apart)."""
    usable = attempts.acquired()
    kinds = attempts.kinds[usable]
    scored = ScoredAttempts(kinds=kinds, llrs={m: v[usable] for m, v in attempts.llrs.items()})
    passed_floors = _floor_pass(scored, policy.floors)
    fused = _fused(scored, policy.fusion)
    decision = np.where(passed_floors, fused, -math.inf)
    accepted = decision >= policy.accept_threshold
    genuine = kinds == AttemptKind.GENUINE
    fmr = {
        k: Rate.of(int(np.sum(accepted & (kinds == k))), int(np.sum(kinds == k)))
        for k in _IMPOSTOR_KINDS
    }
    fmr["all"] = Rate.of(int(np.sum(accepted & ~genuine)), int(np.sum(~genuine)))
    every = [k.value for k in AttemptKind]
    return PolicyFigures(
        fnmr=Rate.of(int(np.sum(~accepted & genuine)), int(np.sum(genuine))),
        fmr=fmr,
        failed_to_acquire={k: int(np.sum(~usable & (attempts.kinds == k))) for k in every},
        rejected_by_floor={k: int(np.sum(~passed_floors & (kinds == k))) for k in every},
        fnmr_at_fmr_1e_4_zero_effort=fnmr_at_fmr(
            decision[genuine], decision[kinds == AttemptKind.IMPOSTOR_BOTH], 1e-4
        ),
        fnmr_at_fmr_1e_3_all_kinds=fnmr_at_fmr(decision[genuine], decision[~genuine], 1e-3),
        fused_only_fnmr_at_fmr_1e_4_zero_effort=fnmr_at_fmr(
            fused[genuine], fused[kinds == AttemptKind.IMPOSTOR_BOTH], 1e-4
        ),
    )
