"""Per-user voice models: what a user earns after ``personalisation_samples`` curated samples.

A user's shared template (their enrolment embeddings) is read by its centroid. Their curated
samples show how they sound on the terminals they really use (a noisy line, a cheap
microphone), where that centroid serves them badly. Their personal model adds one *prototype*
per such condition: the centroid of their training rows of that condition, in the active shared
version's embedding space. A probe's raw voice score becomes the best of the shared score and
the prototypes' scores.

A prototype of a degraded condition also attracts other people's probes from that condition
(the channel is shared), so each prototype's cosine is mapped onto the shared score's impostor
distribution before the max: z-normalised by the prototype's impostor cohort (other enrolled
users' training rows) and re-scaled by the shared centroid's own cohort statistics (per-template
Z-norm). An impostor then scores about as high against a prototype as against the template; the
job checks on the identity-disjoint guard set that the false-match rate against the user does
not rise (:func:`judge`).

Pure: adapted embeddings in, parameters and a verdict out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from core.biometrics.scoring import ScoringConfig, template_score
from core.biometrics.vectors import l2_normalise
from trainer.features import ENROLMENT, FeatureSet
from trainer.pipeline import JobFailed
from trainer.split import TOO_LITTLE_DATA

# A cohort whose scores barely vary would blow a prototype's scale up.
_MIN_STD = 1e-3


@dataclass(frozen=True)
class PersonalParams:
    """One user's prototypes and the affine map of each one's cosine onto the shared scale."""

    prototypes: NDArray[np.float32]  # [k, D], unit rows
    scale: NDArray[np.float32]  # [k]
    offset: NDArray[np.float32]  # [k]
    conditions: tuple[str, ...]  # the condition each prototype stands for

    def scores(self, embeddings: NDArray[np.floating]) -> NDArray[np.float32]:
        """The personal raw score of each row of ``embeddings`` [N, D]: the best mapped cosine.

        The numpy reference of the exported ONNX graph (:mod:`trainer.personal_onnx`).
        """
        unit = l2_normalise(np.atleast_2d(embeddings), np.float32)
        mapped = (unit @ self.prototypes.T) * self.scale + self.offset
        best: NDArray[np.float32] = mapped.max(axis=1).astype(np.float32)
        return best


@dataclass(frozen=True)
class PersonalConfig:
    min_rows_per_condition: int = 5  # a prototype from fewer rows is mostly noise
    max_prototypes: int = 4  # the user's most-used conditions
    min_cohort_rows: int = 20  # impostor rows of one condition to read its statistics from
    # Below the operating threshold, in units of the template's impostor spread, where the
    # cohort's best impostor score against a prototype is put (see fit_personal).
    margin: float = 0.5
    scoring: ScoringConfig = field(default_factory=ScoringConfig)


DEFAULT_CONFIG = PersonalConfig()


def _centroid(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    centre: NDArray[np.float32] = l2_normalise(np.mean(vectors, axis=0), np.float32)
    return centre


def _cohort_stats(cohort: NDArray[np.float32], unit: NDArray[np.float32]) -> tuple[float, float]:
    scores = l2_normalise(cohort, np.float32) @ unit
    return float(scores.mean()), max(float(scores.std()), _MIN_STD)


def _rows_of(cohort: FeatureSet, conditions: set[str], config: PersonalConfig) -> FeatureSet:
    """The cohort's rows of ``conditions``, or all of them when those are too few."""
    chosen = cohort.in_conditions(conditions)
    return chosen if len(chosen) >= config.min_cohort_rows else cohort


def fit_personal(
    user_id: str,
    train: FeatureSet,
    raw_threshold: float,
    config: PersonalConfig = DEFAULT_CONFIG,
) -> PersonalParams:
    """The personal model of ``user_id`` from the training rows (adapted embeddings): the
    user's rows make the prototypes, everyone else's are the impostor cohort.

    Matching mean and spread is not enough at the operating point, which lies in the far tail
    of the impostor scores (measured on data-large: the guard's FMR went from 0.15 % to 2.2 %).
    So each map is also capped: the cohort's best impostor score against the prototype lands
    ``margin`` impostor spreads below ``raw_threshold``; only a probe closer to the prototype
    than every cohort member can pass on the prototype alone.
    """
    own = train.of_users({user_id})
    cohort = train.of_users(set(train.users) - {user_id})
    enrolled = own.in_conditions({ENROLMENT})
    if len(enrolled) == 0 or len(cohort) == 0:
        raise JobFailed(
            TOO_LITTLE_DATA,
            f"{user_id} has {len(enrolled)} enrolment rows and the cohort {len(cohort)} rows: "
            "a personal model needs both",
        )
    by_condition: defaultdict[str, list[int]] = defaultdict(list)
    for i, condition in enumerate(own.conditions):
        if condition != ENROLMENT:
            by_condition[condition].append(i)
    usable = sorted(
        (rows for rows in by_condition.values() if len(rows) >= config.min_rows_per_condition),
        key=len,
        reverse=True,
    )[: config.max_prototypes]
    if not usable:
        counts = ", ".join(f"{c} {len(r)}" for c, r in sorted(by_condition.items())) or "none"
        raise JobFailed(
            TOO_LITTLE_DATA,
            f"{user_id} has no condition with {config.min_rows_per_condition} curated training "
            f"rows (by condition: {counts})",
        )
    # The target: impostors' scores against the template on enrolment-like (clean) rows,
    # where the shared operating threshold was fitted.
    target_mean, target_std = _cohort_stats(
        _rows_of(cohort, {ENROLMENT}, config).vectors, _centroid(enrolled.vectors)
    )
    prototypes, scales, offsets, conditions = [], [], [], []
    for rows in usable:
        condition = own.conditions[rows[0]]
        prototype = _centroid(own.vectors[rows])
        # Impostors presenting on the same terminal are the ones the prototype attracts.
        mean, std = _cohort_stats(_rows_of(cohort, {condition}, config).vectors, prototype)
        scale = target_std / std
        best = float(np.max(l2_normalise(cohort.vectors, np.float32) @ prototype))
        ceiling = raw_threshold - config.margin * target_std - scale * best
        prototypes.append(prototype)
        scales.append(scale)
        offsets.append(min(target_mean - scale * mean, ceiling))
        conditions.append(condition)
    return PersonalParams(
        prototypes=np.stack(prototypes).astype(np.float32),
        scale=np.asarray(scales, dtype=np.float32),
        offset=np.asarray(offsets, dtype=np.float32),
        conditions=tuple(conditions),
    )


@dataclass(frozen=True)
class PersonalVerdict:
    promote: bool
    summary: str
    metrics: dict[str, float]


def _shared_scores(
    rows: FeatureSet, template: NDArray[np.float32], scoring: ScoringConfig
) -> NDArray[np.float64]:
    return np.asarray([template_score(v, template, scoring) for v in rows.vectors])


def judge(
    user_id: str,
    params: PersonalParams,
    template: NDArray[np.float32],
    probes: FeatureSet,
    guard: FeatureSet,
    raw_threshold: float,
    scoring: ScoringConfig,
) -> PersonalVerdict:
    """Promote when the user's held-back probes score higher on their worst condition and the
    guard set's false matches against the user do not rise, at the shared operating threshold.

    ``template``: the user's enrolment embeddings (what the gateway holds); ``probes``: the
    user's held-back rows; ``guard``: people no training row came from. All adapted by the
    active shared version.
    """
    own = probes.of_users({user_id})
    if len(own) == 0 or len(guard) == 0:
        raise JobFailed(
            TOO_LITTLE_DATA,
            f"{len(own)} held-back rows of {user_id} and {len(guard)} guard rows: both are needed",
        )
    before = _shared_scores(own, template, scoring)
    after = np.maximum(before, params.scores(own.vectors))
    medians: dict[str, tuple[float, float]] = {}
    for condition in sorted(set(own.conditions)):
        rows = np.asarray([c == condition for c in own.conditions])
        medians[condition] = (float(np.median(before[rows])), float(np.median(after[rows])))
    worst = min(medians, key=lambda c: medians[c][0])
    impostor_before = _shared_scores(guard, template, scoring)
    impostor_after = np.maximum(impostor_before, params.scores(guard.vectors))
    fmr_before = float(np.mean(impostor_before >= raw_threshold))
    fmr_after = float(np.mean(impostor_after >= raw_threshold))
    worst_before, worst_after = medians[worst]
    rises = worst_after > worst_before
    holds = fmr_after <= fmr_before
    metrics = {
        "personal_prototypes": float(len(params.conditions)),
        "personal_probes": float(len(own)),
        "personal_guard_trials": float(len(guard)),
        "genuine_median_worst_before": worst_before,
        "genuine_median_worst_after": worst_after,
        "genuine_accept_before": float(np.mean(before >= raw_threshold)),
        "genuine_accept_after": float(np.mean(after >= raw_threshold)),
        "guard_fmr_before": fmr_before,
        "guard_fmr_after": fmr_after,
        "guard_impostor_max_before": float(impostor_before.max()),
        "guard_impostor_max_after": float(impostor_after.max()),
    }
    verdict = "promoted" if rises and holds else "not promoted"
    why = [] if rises else ["the worst condition's median did not rise"]
    why += [] if holds else ["the guard set's false matches rose"]
    summary = (
        f"{verdict}: {user_id}'s median on {worst} {worst_before:.3f} -> {worst_after:.3f}, "
        f"guard FMR {fmr_before:.2%} -> {fmr_after:.2%} over {len(guard)} trials"
        + (f" ({'; '.join(why)})" if why else "")
    )
    return PersonalVerdict(promote=rises and holds, summary=summary, metrics=metrics)
