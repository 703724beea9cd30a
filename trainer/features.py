"""Base features a trainer learns from: one row per usable sample, with who and where it came from.

The dataset code (``dataset.py``) makes a :class:`FeatureSet` from a snapshot of the buckets;
experiments make one from a data folder. The learning code sees only this, never media or
stores, so it stays pure and testable with synthetic numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# The condition of enrolment samples; curated samples carry their terminal's id.
ENROLMENT = "enrolment"


@dataclass(frozen=True)
class FeatureSet:
    """Rows of base embeddings (``[N, width]`` float32, L2-normalised) and their labels."""

    vectors: NDArray[np.float32]
    user_ids: tuple[str, ...]
    conditions: tuple[str, ...]  # terminal id, or ENROLMENT
    sample_ids: tuple[str, ...]  # unique per row (object key, or a data folder's file path)

    def __post_init__(self) -> None:
        rows = self.vectors.shape[0]
        if self.vectors.ndim != 2:
            raise ValueError("vectors must be [N, width]")
        if not (len(self.user_ids) == len(self.conditions) == len(self.sample_ids) == rows):
            raise ValueError("one user, condition and sample id per row")

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def width(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.user_ids)))

    def where(self, mask: NDArray[np.bool_]) -> FeatureSet:
        """The rows where ``mask`` is true."""
        rows = np.flatnonzero(mask)
        return FeatureSet(
            vectors=self.vectors[rows],
            user_ids=tuple(self.user_ids[i] for i in rows),
            conditions=tuple(self.conditions[i] for i in rows),
            sample_ids=tuple(self.sample_ids[i] for i in rows),
        )

    def of_users(self, users: set[str]) -> FeatureSet:
        return self.where(np.array([u in users for u in self.user_ids], dtype=bool))

    def in_conditions(self, conditions: set[str]) -> FeatureSet:
        return self.where(np.array([c in conditions for c in self.conditions], dtype=bool))


@dataclass(frozen=True)
class Split:
    """Enrolled users' samples split for training and validation, and a guard set of others.

    ``validation`` holds back samples of the users in ``train`` (the adapter serves the enrolled
    population); ``guard`` holds users absent from both, so a model that only memorised its
    users is caught (identity-disjoint non-regression).
    """

    train: FeatureSet
    validation: FeatureSet
    guard: FeatureSet
