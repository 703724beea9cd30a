"""Choosing an adapter's stages on the training users' own rows, by cross-validation.

One development split is too small to steer by: with a hundred users and a few curated rows
each, a quarter of them gives one genuine trial per user and condition, an EER read to a
point or more, and the lowest of twenty candidates on it is mostly the luckiest (on faces it
picked a whitening and a head that lost 40 % on held-back rows). So the non-template training
rows are cut into ``folds`` parts, each condition of each user spread over all of them
(:func:`cross_folds`); a candidate is fitted once per part on everything else and scores the
part it did not see, and the trials of all parts are pooled before the EER is read
(:func:`pooled_score`): every row is a development probe once.

The pooled EER still has sampling error. A candidate is chosen by the one-standard-error rule
(Hastie, Tibshirani & Friedman, *Elements of Statistical Learning*, §7.10): the *simplest*
candidate whose EER is within one standard error of the lowest (:func:`choose`), so a
stage that only wins by noise is not shipped. The development EER is the worst condition's: what
a domain-shift job is there to fix, and a stage that trades it for the clean condition's is no
better for it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.biometrics.vectors import l2_normalise
from trainer.champion import Trials, eer_of, split_templates
from trainer.features import FeatureSet


@dataclass(frozen=True)
class Fold:
    fit: FeatureSet  # the templates and the other parts
    dev: FeatureSet


@dataclass(frozen=True)
class DevScore:
    """The development EER of the worst condition, over ``genuine`` genuine trials."""

    eer: float
    genuine: int

    @property
    def standard_error(self) -> float:
        """Binomial, over the genuine trials: how :mod:`trainer.champion` reads an EER's
        uncertainty (the impostor trials are far more numerous)."""
        if self.genuine == 0:
            return 1.0
        return math.sqrt(self.eer * (1.0 - self.eer) / self.genuine)


def concat(a: FeatureSet, b: FeatureSet) -> FeatureSet:
    return FeatureSet(
        vectors=np.concatenate([a.vectors, b.vectors]),
        user_ids=a.user_ids + b.user_ids,
        conditions=a.conditions + b.conditions,
        sample_ids=a.sample_ids + b.sample_ids,
    )


def cross_folds(train: FeatureSet, template_size: int, folds: int) -> tuple[FeatureSet, list[Fold]]:
    """The templates, and ``folds`` folds of the other rows: the n-th row of each user and
    condition is development in fold ``n % folds``, so every fold has every condition."""
    templates, rest = split_templates(train, template_size)
    seen: Counter[tuple[str, str]] = Counter()
    part = np.zeros(len(rest), dtype=np.intp)
    for i, key in enumerate(zip(rest.user_ids, rest.conditions, strict=True)):
        part[i] = seen[key] % folds
        seen[key] += 1
    return templates, [
        Fold(fit=concat(templates, rest.where(part != f)), dev=rest.where(part == f))
        for f in range(folds)
    ]


def centroid_trials(templates: FeatureSet, probes: FeatureSet) -> dict[str, Trials]:
    """Cosine of every probe to every user's template centroid, by the probe's condition.

    Computed for every candidate, fold and epoch, so it is one matrix product rather than
    :func:`trainer.champion.trial_scores` pair by pair; it is the centroid rule, the default
    :class:`~core.biometrics.scoring.ScoringConfig`, and only steers training.
    """
    users = np.asarray(templates.user_ids)
    names = sorted(set(templates.user_ids))
    unit = l2_normalise(templates.vectors, np.float64)
    centroids = l2_normalise(np.stack([unit[users == u].mean(axis=0) for u in names]), np.float64)
    scores = l2_normalise(probes.vectors, np.float64) @ centroids.T
    genuine = np.asarray(probes.user_ids)[:, None] == np.asarray(names)[None, :]
    conditions = np.asarray(probes.conditions)
    out = {}
    for cond in sorted(set(probes.conditions)):
        rows = conditions == cond
        out[cond] = Trials(scores[rows][genuine[rows]], scores[rows][~genuine[rows]])
    return out


def pooled_score(per_fold: Sequence[dict[str, Trials]]) -> DevScore:
    """The worst condition's EER over the trials of every fold together."""
    conditions = sorted({cond for trials in per_fold for cond in trials})
    worst = DevScore(eer=1.0, genuine=0)
    for cond in conditions:
        parts = [trials[cond] for trials in per_fold if cond in trials]
        pooled = Trials(_joined([t.genuine for t in parts]), _joined([t.impostor for t in parts]))
        if not (pooled.genuine.size and pooled.impostor.size):
            continue
        score = DevScore(eer=eer_of(pooled), genuine=int(pooled.genuine.size))
        if worst.genuine == 0 or score.eer > worst.eer:
            worst = score
    return worst


def _joined(arrays: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    return np.concatenate(arrays) if arrays else np.zeros(0)


def choose(scores: Sequence[DevScore], *, one_standard_error: bool = True) -> int:
    """The index of the first (simplest) score within one standard error of the lowest (or
    of the lowest itself, without the rule)."""
    if not scores:
        raise ValueError("no candidates to choose from")
    best = min(scores, key=lambda s: s.eer)
    limit = best.eer + (best.standard_error if one_standard_error else 0.0)
    return next(i for i, s in enumerate(scores) if s.eer <= limit)
