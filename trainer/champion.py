"""Champion / challenger: is the new version better than the active one on the same held-back data?

Pure: both versions' embeddings of the same rows come in, a verdict with its reasons and a flat
dict of figures goes out. The rows:

- the enrolled users' *templates* (their first enrolment rows) and their held-back *probes*
  (validation rows, never trained on); every probe is scored against every enrolled user's
  template (the configured template rule): genuine when it is that user, impostor otherwise;
- probes are read per condition: **clean** (enrolment-like rows) and **degraded** (the
  condition that triggered the job: where the *champion* is worst on held-back data, among the
  conditions with enough genuine trials);
- the **guard** population, identity-disjoint, with its own templates and probes: the versions'
  false matches on people no training row came from.

The rule: promote when the challenger lowers the EER on the degraded condition, keeps the
clean EER within ``clean_tolerance`` of the champion's, and its FMR on the guard set at its own
operating threshold, on clean and on degraded guard probes, is no higher than the champion's on
clean guard probes at its own (within the champion's 95 % interval: counts over a few hundred
trials). The champion's FMR on *degraded* probes is no yardstick: it rejects nearly all of
them, genuine users included.

Each version is read at its operating point (calibration + calibrated threshold). The
challenger's is fitted here on the held-back rows (:func:`fit_operating_point`), never on
training rows; its threshold keeps the champion's calibrated floor, so the decision policy
means the same with either version, while the calibration says where that floor is in the
new version's scores.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from core.biometrics.scoring import Calibration, ScoringConfig, fit_calibration, template_score
from core.biometrics.thresholds import OperatingPoint as RatesAt
from core.biometrics.thresholds import (
    eer_point,
    fnmr_at_fmr,
    operating_point,
    proportion_interval,
    threshold_for_fmr,
)
from schemas.manifest import OperatingPoint, ScoreCalibration
from schemas.model_catalog import ModelRef
from trainer.features import ENROLMENT, FeatureSet

CLEAN = "clean"
DEGRADED = "degraded"
GUARD_CLEAN = "guard_clean"
GUARD_DEGRADED = "guard_degraded"


class ChampionConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    clean_tolerance: float = Field(default=0.005, ge=0.0, description="EER, as a fraction")
    operating_fmr: float = Field(default=1e-2, gt=0.0, lt=1.0, description="FNMR is read here")
    min_genuine_trials: int = Field(default=10, ge=1, description="for a condition to count")
    template_size: int = Field(default=3, ge=1, description="enrolment rows per template")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)


@dataclass(frozen=True)
class Trials:
    genuine: NDArray[np.float64]
    impostor: NDArray[np.float64]


def split_templates(
    rows: FeatureSet, size: int, *, spare_one: bool = False
) -> tuple[FeatureSet, FeatureSet]:
    """Per user, the first ``size`` enrolment rows (the template) and every other row.

    ``spare_one``: a user with two or more enrolment rows keeps one out of the template, as a
    clean probe (the guard's people, whose rows are all probes but the template's).
    """
    enrolled = Counter(
        u for u, c in zip(rows.user_ids, rows.conditions, strict=True) if c == ENROLMENT
    )
    limit = {u: min(size, n - 1) if spare_one and n >= 2 else size for u, n in enrolled.items()}
    taken: dict[str, int] = defaultdict(int)
    mask = np.zeros(len(rows), dtype=bool)
    for i, (user, cond) in enumerate(zip(rows.user_ids, rows.conditions, strict=True)):
        if cond == ENROLMENT and taken[user] < limit[user]:
            taken[user] += 1
            mask[i] = True
    return rows.where(mask), rows.where(~mask)


def trial_scores(
    templates: FeatureSet, probes: FeatureSet, scoring: ScoringConfig
) -> dict[str, Trials]:
    """Every probe against every template user, by the probe's condition."""
    by_user = {
        user: templates.vectors[[i for i, u in enumerate(templates.user_ids) if u == user]]
        for user in templates.users
    }
    genuine: dict[str, list[float]] = defaultdict(list)
    impostor: dict[str, list[float]] = defaultdict(list)
    for vector, user, cond in zip(probes.vectors, probes.user_ids, probes.conditions, strict=True):
        for claimed, template in by_user.items():
            score = template_score(vector, template, scoring)
            (genuine if claimed == user else impostor)[cond].append(score)
    return {
        cond: Trials(np.asarray(genuine[cond]), np.asarray(impostor[cond]))
        for cond in sorted(set(genuine) | set(impostor))
    }


def pooled(trials: dict[str, Trials], conditions: set[str]) -> Trials:
    chosen = [trials[c] for c in sorted(conditions) if c in trials]
    return Trials(
        np.concatenate([t.genuine for t in chosen]) if chosen else np.zeros(0),
        np.concatenate([t.impostor for t in chosen]) if chosen else np.zeros(0),
    )


def eer_of(trials: Trials) -> float:
    return eer_point(trials.genuine, trials.impostor).eer


def triggering_condition(champion: dict[str, Trials], config: ChampionConfig) -> str | None:
    """The condition (not enrolment) where the champion's EER is worst, with enough trials."""
    candidates = {
        cond: eer_of(t)
        for cond, t in champion.items()
        if cond != ENROLMENT and t.genuine.size >= config.min_genuine_trials and t.impostor.size
    }
    return max(candidates, key=lambda c: (candidates[c], c)) if candidates else None


def calibration_of(point: OperatingPoint) -> Calibration:
    fitted = point.calibration
    return Calibration(
        slope=fitted.slope,
        intercept=fitted.intercept,
        genuine_trials=fitted.genuine_trials,
        impostor_trials=fitted.impostor_trials,
    )


def fit_operating_point(
    trials: Trials,
    model: ModelRef,
    target_fmr: float,
    fitted_on: str,
    also_holds_on: Sequence[Trials] = (),
) -> OperatingPoint:
    """A logistic calibration of the held-back scores, and the lowest calibrated threshold that
    accepts at most ``target_fmr`` of their impostor trials (0: none of them) and of each set
    of ``also_holds_on``."""
    fitted = fit_calibration(trials.genuine, trials.impostor)
    # threshold_for_fmr takes a rate in (0, 1); a target of 0 allows no false match at all.
    threshold = max(
        threshold_for_fmr(fitted.scores(t.impostor), max(target_fmr, 1e-12))
        for t in (trials, *also_holds_on)
        if t.impostor.size
    )
    return OperatingPoint(
        model=model,
        calibration=ScoreCalibration(
            slope=fitted.slope,
            intercept=fitted.intercept,
            genuine_trials=fitted.genuine_trials,
            impostor_trials=fitted.impostor_trials,
        ),
        threshold=min(threshold, 1.0),
        fitted_on=fitted_on,
    )


def fmr_at(trials: Trials, point: OperatingPoint) -> float:
    """The share of impostor trials ``point`` accepts."""
    return operating_point(trials.genuine, trials.impostor, raw_threshold(point)).fmr


class Figures(BaseModel):
    """One version on one set of trials."""

    eer: float
    eer_ci95: tuple[float, float]
    at_fmr: RatesAt  # FNMR at the operating FMR (threshold set on these impostor scores)
    at_threshold: RatesAt  # FMR and FNMR at the version's own operating threshold


def raw_threshold(point: OperatingPoint) -> float:
    """The raw score at which ``point``'s calibrated threshold lies."""
    if point.threshold >= 1.0:
        return math.inf  # accepts nothing: no raw score maps to a calibrated 1
    return calibration_of(point).raw_for_score(point.threshold)


def figures(trials: Trials, point: OperatingPoint, operating_fmr: float) -> Figures:
    eer = eer_of(trials)
    at = raw_threshold(point)
    return Figures(
        eer=eer,
        # As ``kibalock eval`` reports it: the EER read as a rate over the genuine trials.
        eer_ci95=proportion_interval(round(eer * trials.genuine.size), trials.genuine.size),
        at_fmr=fnmr_at_fmr(trials.genuine, trials.impostor, operating_fmr),
        at_threshold=operating_point(trials.genuine, trials.impostor, at),
    )


@dataclass(frozen=True)
class Embedded:
    """One version's embeddings of the evaluation rows, and its operating point."""

    templates: FeatureSet
    probes: FeatureSet
    guard_templates: FeatureSet
    guard_probes: FeatureSet
    point: OperatingPoint


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reasons: tuple[str, ...]
    degraded_condition: str
    champion: dict[str, Figures]  # by CLEAN, DEGRADED, GUARD_CLEAN, GUARD_DEGRADED
    challenger: dict[str, Figures]
    metrics: dict[str, float]


class NoDegradedCondition(ValueError):
    """No held-back condition besides enrolment has enough trials to judge a domain shift."""


def compare(
    champion: Embedded, challenger: Embedded, config: ChampionConfig | None = None
) -> Verdict:
    """The verdict on the same rows embedded by both versions (see the module docstring)."""
    config = config or ChampionConfig()
    per_side = {
        name: (
            trial_scores(side.templates, side.probes, config.scoring),
            trial_scores(side.guard_templates, side.guard_probes, config.scoring),
        )
        for name, side in (("champion", champion), ("challenger", challenger))
    }
    champ_trials, champ_guard = per_side["champion"]
    degraded = triggering_condition(champ_trials, config)
    if degraded is None or ENROLMENT not in champ_trials:
        raise NoDegradedCondition(
            "held-back rows need enrolment-condition probes and one other condition with "
            f"{config.min_genuine_trials}+ genuine trials; conditions: {sorted(champ_trials)}"
        )
    if ENROLMENT not in champ_guard or degraded not in champ_guard:
        raise NoDegradedCondition(f"the guard set needs enrolment and {degraded} probes")
    sides: dict[str, dict[str, Figures]] = {}
    for name, side in (("champion", champion), ("challenger", challenger)):
        trials, guard = per_side[name]
        sides[name] = {
            set_name: figures(source[cond], side.point, config.operating_fmr)
            for set_name, source, cond in (
                (CLEAN, trials, ENROLMENT),
                (DEGRADED, trials, degraded),
                (GUARD_CLEAN, guard, ENROLMENT),
                (GUARD_DEGRADED, guard, degraded),
            )
        }
    champ, chall = sides["champion"], sides["challenger"]
    lowered = chall[DEGRADED].eer < champ[DEGRADED].eer
    clean_kept = chall[CLEAN].eer <= champ[CLEAN].eer + config.clean_tolerance
    # The champion's design FMR is the one on enrolment-like probes: on the degraded ones it
    # rejects nearly everything, impostors and genuine users alike, which is no design point.
    guard_fmr_limit = champ[GUARD_CLEAN].at_threshold.fmr_ci95[1]
    guard_fmr = max(chall[GUARD_CLEAN].at_threshold.fmr, chall[GUARD_DEGRADED].at_threshold.fmr)
    guard_kept = guard_fmr <= guard_fmr_limit
    reasons = (
        f"{'lowers' if lowered else 'does not lower'} the EER on {degraded}: "
        f"{_pct(champ[DEGRADED].eer)} -> {_pct(chall[DEGRADED].eer)}",
        f"clean EER {_pct(champ[CLEAN].eer)} -> {_pct(chall[CLEAN].eer)} "
        f"({'within' if clean_kept else 'beyond'} {_pct(config.clean_tolerance)} tolerance)",
        f"guard FMR at the operating threshold, clean / {degraded}: "
        f"{_pct(champ[GUARD_CLEAN].at_threshold.fmr)} / "
        f"{_pct(champ[GUARD_DEGRADED].at_threshold.fmr)} -> "
        f"{_pct(chall[GUARD_CLEAN].at_threshold.fmr)} / "
        f"{_pct(chall[GUARD_DEGRADED].at_threshold.fmr)} "
        f"({'within' if guard_kept else 'above'} the champion's clean 95 % bound "
        f"{_pct(guard_fmr_limit)})",
    )
    promote = lowered and clean_kept and guard_kept
    metrics = _metrics(champ, chall, config)
    metrics["promote"] = float(promote)
    return Verdict(promote, reasons, degraded, champ, chall, metrics)


def _pct(rate: float) -> str:
    return "n/a" if math.isnan(rate) else f"{100 * rate:.2f} %"


def _metrics(
    champ: dict[str, Figures], chall: dict[str, Figures], config: ChampionConfig
) -> dict[str, float]:
    """Flat figures, ``{side}_{figure}_{set}``: codes the job record and the manifest accept."""
    out: dict[str, float] = {}
    for side, by_set in (("champion", champ), ("challenger", chall)):
        for name, fig in by_set.items():
            out[f"{side}_eer_{name}"] = fig.eer
            out[f"{side}_eer_ci95_high_{name}"] = fig.eer_ci95[1]
            out[f"{side}_fnmr_at_fmr_{name}"] = fig.at_fmr.fnmr
            out[f"{side}_fmr_at_threshold_{name}"] = fig.at_threshold.fmr
            if name in (CLEAN, DEGRADED):  # the guard's figures stay few: 64 codes at most
                out[f"{side}_fnmr_at_fmr_ci95_high_{name}"] = fig.at_fmr.fnmr_ci95[1]
                out[f"{side}_fnmr_at_threshold_{name}"] = fig.at_threshold.fnmr
    for name, fig in champ.items():
        out[f"trials_genuine_{name}"] = float(fig.at_fmr.genuine_trials)
        out[f"trials_impostor_{name}"] = float(fig.at_fmr.impostor_trials)
    out["operating_fmr"] = config.operating_fmr
    out["clean_tolerance"] = config.clean_tolerance
    return out
