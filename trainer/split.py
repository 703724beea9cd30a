"""Train / validation / guard split of a FeatureSet: pure and deterministic.

- **guard**: whole users, held out of training and validation (identity-disjoint), so a model
  that only learnt its own users is caught. Users are drawn in the order of a hash of the seed
  and their id, so a new user displaces at most one guard user instead of re-drawing them all.
- **validation**: of each remaining user, a share of their samples of every condition (at least
  one per condition where the user keeps another row to train on), drawn by hash of the sample
  id; and one enrolment row of each user who has two or more: the *clean* probe that champion /
  challenger compares with the degraded one (curated samples are all captured at terminals, so
  without it there is no enrolment-like probe at all). The other enrolment rows stay in train:
  they are the templates the validation probes are compared with.

Too little data is an explained failure (``too_little_data``), never a model fitted on noise.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.settings.trainer import TrainerSection
from trainer.features import ENROLMENT, FeatureSet, Split
from trainer.pipeline import JobFailed

TOO_LITTLE_DATA = "too_little_data"


@dataclass(frozen=True)
class SplitRules:
    guard_fraction: float
    guard_min_users: int
    validation_fraction: float
    min_train_users: int
    min_samples_per_user: int
    seed: int = 0

    @classmethod
    def of(cls, settings: TrainerSection) -> SplitRules:
        return cls(
            guard_fraction=settings.guard_fraction,
            guard_min_users=settings.guard_min_users,
            validation_fraction=settings.validation_fraction,
            min_train_users=settings.min_train_users,
            min_samples_per_user=settings.min_samples_per_user,
            seed=settings.split_seed,
        )


def _rank(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def guard_users(users: Collection[str], rules: SplitRules, keep: Collection[str] = ()) -> set[str]:
    """The users held out whole: a share of them (at least ``guard_min_users``), never one of
    ``keep``, and only as many as leave ``min_train_users`` to train on."""
    candidates = sorted((u for u in users if u not in keep), key=lambda u: _rank(rules.seed, u))
    wanted = max(rules.guard_min_users, round(rules.guard_fraction * len(users)))
    spare = len(users) - rules.min_train_users
    return set(candidates[: max(0, min(wanted, spare, len(candidates)))])


def validation_rows(features: FeatureSet, rules: SplitRules) -> NDArray[np.bool_]:
    """A mask of the rows held back: one enrolment row of each user with two or more, and per
    user and other condition a share of the rows, at least one while the user keeps a row to
    train on."""
    groups: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    rows_of: defaultdict[str, int] = defaultdict(int)
    for i, (user, condition) in enumerate(zip(features.user_ids, features.conditions, strict=True)):
        rows_of[user] += 1
        if condition != ENROLMENT:
            groups[(user, condition)].append(i)
    mask = np.zeros(len(features), dtype=bool)
    enrolment: defaultdict[str, list[int]] = defaultdict(list)
    for i, (user, condition) in enumerate(zip(features.user_ids, features.conditions, strict=True)):
        if condition == ENROLMENT:
            enrolment[user].append(i)
    for user, rows in sorted(enrolment.items()):
        if len(rows) >= 2:
            mask[min(rows, key=lambda i: _rank(rules.seed, features.sample_ids[i]))] = True
            rows_of[user] -= 1
    for (user, _), rows in sorted(groups.items()):
        share = max(1, math.floor(rules.validation_fraction * len(rows) + 0.5))
        share = min(share, len(rows) - 1) if len(rows) > 1 else 1
        if rows_of[user] - share < 1:
            continue  # the user's only row: it must train
        rows_of[user] -= share
        drawn = sorted(rows, key=lambda i: _rank(rules.seed, features.sample_ids[i]))[:share]
        mask[drawn] = True
    return mask


def split(features: FeatureSet, rules: SplitRules, *, keep: Collection[str] = ()) -> Split:
    """The split of ``features``; ``keep``: users who must be trained on (a per-user job's
    user). Raises ``JobFailed(too_little_data)`` below the rules' minimums."""
    missing = sorted(set(keep) - set(features.user_ids))
    if missing:
        raise JobFailed(
            TOO_LITTLE_DATA, f"no usable sample of {', '.join(missing)} in the snapshot"
        )
    guard = guard_users(features.users, rules, keep)
    rest = features.of_users(set(features.users) - guard)
    held = validation_rows(rest, rules)
    train, validation = rest.where(~held), rest.where(held)
    counts = {u: rest.user_ids.count(u) for u in rest.users}
    usable = [
        u
        for u in rest.users
        if counts[u] >= rules.min_samples_per_user and u in set(validation.user_ids)
    ]
    short = [u for u in keep if u not in usable]
    if len(usable) < rules.min_train_users or short:
        raise JobFailed(
            TOO_LITTLE_DATA,
            f"{len(features)} samples of {len(features.users)} users; {len(usable)} users have "
            f"at least {rules.min_samples_per_user} samples with one to hold back for "
            f"validation, and {rules.min_train_users} are needed"
            + (f" (including {', '.join(short)})" if short else ""),
        )
    return Split(train=train, validation=validation, guard=features.of_users(guard))
