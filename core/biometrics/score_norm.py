"""Adaptive symmetric score normalisation (AS-norm) against a cohort of other speakers.

A raw cosine means different things for different voices: a speaker whose voice sits in a
crowded region of the embedding space gets high impostor scores from everyone. AS-norm measures
that per side of a trial: the probe and the template are each scored against a fixed *cohort* of
embeddings of people who are neither, the ``top_n`` highest of those cohort scores give a local
impostor mean and spread, and the trial score is standardised against both and averaged::

    s' = ½ · ((s − μ_probe) / σ_probe + (s − μ_template) / σ_template)

Only the closest ``top_n`` cohort members are used ("adaptive"): the impostors that matter for
a voice are the ones that sound like it. The template side depends only on the enrolment, so it
can be computed once at enrolment and stored with the template; the probe side costs one
matrix-vector product per login.

Normalised scores are on a different scale from cosines, so a calibration fitted on raw cosines
does not apply to them: fit it on normalised scores (the same trials, normalised with the same
cohort, which must share no speaker with the trials).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.biometrics.scoring import Vector, cosine_similarities

__all__ = ["CohortStats", "as_norm", "as_norm_score", "cohort_stats"]

# Below this the cohort scores are (near) identical and standardising would divide by ~0.
_MIN_STD = 1e-6


@dataclass(frozen=True)
class CohortStats:
    """Mean and standard deviation of one vector's ``top_n`` highest cohort cosines."""

    mean: float
    std: float


def cohort_stats(vector: Vector, cohort: Vector, top_n: int) -> CohortStats:
    """The statistics of ``vector``'s ``top_n`` highest cosines with the rows of ``cohort``.

    ``top_n`` larger than the cohort uses the whole cohort. Raises ``ValueError`` for an empty
    cohort or ``top_n`` < 2 (one score has no spread).
    """
    if top_n < 2:
        raise ValueError("top_n must be at least 2")
    scores = cosine_similarities(vector, cohort)
    if scores.size < 2:
        raise ValueError("the cohort needs at least 2 vectors")
    top = np.partition(scores, scores.size - min(top_n, scores.size))[-min(top_n, scores.size) :]
    return CohortStats(mean=float(top.mean()), std=float(max(top.std(), _MIN_STD)))


def as_norm(score: float, probe: CohortStats, template: CohortStats) -> float:
    """AS-norm of a raw ``score`` given both sides' cohort statistics (formula above)."""
    return 0.5 * ((score - probe.mean) / probe.std + (score - template.mean) / template.std)


def as_norm_score(
    score: float, probe: Vector, template: Vector, cohort: Vector, top_n: int
) -> float:
    """AS-norm of ``score``, the raw cosine between ``probe`` and ``template``."""
    return as_norm(score, cohort_stats(probe, cohort, top_n), cohort_stats(template, cohort, top_n))
