"""The train / validation / guard split (trainer/split.py): pure, deterministic, explained."""

from __future__ import annotations

import numpy as np
import pytest

from core.settings.trainer import TrainerSection
from trainer.features import ENROLMENT, FeatureSet
from trainer.pipeline import JobFailed
from trainer.split import SplitRules, guard_users, split

RULES = SplitRules(
    guard_fraction=0.2,
    guard_min_users=1,
    validation_fraction=0.25,
    min_train_users=2,
    min_samples_per_user=2,
    seed=0,
)


def features(layout: dict[str, dict[str, int]], width: int = 4) -> FeatureSet:
    """A FeatureSet with ``layout[user][condition]`` rows (random unit vectors)."""
    users, conditions, ids = [], [], []
    for user, per_condition in layout.items():
        for condition, n in per_condition.items():
            for k in range(n):
                users.append(user)
                conditions.append(condition)
                ids.append(f"{user}/{condition}/{k}")
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(len(ids), width)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return FeatureSet(vectors, tuple(users), tuple(conditions), tuple(ids))


def population(n: int) -> FeatureSet:
    return features({f"u{i}": {ENROLMENT: 3, "term-1": 8, "term-2": 4} for i in range(n)})


def test_guard_is_identity_disjoint_and_every_row_lands_once() -> None:
    data = population(10)
    parts = split(data, RULES)
    guard = set(parts.guard.users)
    assert len(guard) == 2  # 20 % of 10
    assert guard.isdisjoint(parts.train.users)
    assert guard.isdisjoint(parts.validation.users)
    assert set(parts.validation.users) <= set(parts.train.users)
    ids = [*parts.train.sample_ids, *parts.validation.sample_ids, *parts.guard.sample_ids]
    assert sorted(ids) == sorted(data.sample_ids)


def test_validation_holds_back_a_share_per_user_and_condition_and_one_enrolment_row() -> None:
    parts = split(population(10), RULES)
    for user in parts.train.users:
        held = parts.validation.of_users({user}).conditions
        assert held.count("term-1") == 2  # 25 % of 8
        assert held.count("term-2") == 1  # 25 % of 4
        assert held.count(ENROLMENT) == 1  # the clean probe
        enrol = parts.train.of_users({user}).conditions
        assert enrol.count(ENROLMENT) == 2  # the template


def test_a_single_sample_of_a_condition_is_validated_when_the_user_has_others() -> None:
    data = features(
        {"a": {ENROLMENT: 2, "kiosk": 1}, "b": {ENROLMENT: 2, "kiosk": 1}, "c": {"kiosk": 1}}
    )
    rules = SplitRules(0.0, 0, 0.25, 2, 2)
    with pytest.raises(JobFailed):  # c has one row only: it trains, and two users remain usable
        split(data, SplitRules(0.0, 0, 0.25, 3, 2))
    parts = split(data, rules)
    held = sorted(parts.validation.sample_ids)
    assert [i for i in held if "kiosk" in i] == ["a/kiosk/0", "b/kiosk/0"]
    assert parts.validation.conditions.count(ENROLMENT) == 2  # one clean probe each
    assert parts.train.conditions.count(ENROLMENT) == 2  # and one template row each
    assert "c/kiosk/0" in parts.train.sample_ids


def test_the_split_is_deterministic_and_a_new_user_displaces_at_most_one() -> None:
    first, again = split(population(10), RULES), split(population(10), RULES)
    assert first.validation.sample_ids == again.validation.sample_ids
    assert first.guard.users == again.guard.users
    before = guard_users(population(10).users, RULES)
    for n in range(11, 20):
        after = guard_users(population(n).users, RULES)
        if len(after) == len(before):
            assert after - before <= {f"u{n - 1}"}, (before, after)
        else:
            assert before < after, (before, after)
        before = after
    many = population(50).users
    assert guard_users(many, RULES) != guard_users(
        many, SplitRules(**{**RULES.__dict__, "seed": 7})
    )


def test_a_per_user_job_keeps_its_user_out_of_the_guard() -> None:
    data = population(10)
    guarded = next(iter(split(data, RULES).guard.users))
    parts = split(data, RULES, keep=[guarded])
    assert guarded not in parts.guard.users
    assert guarded in parts.validation.users


def test_the_guard_never_takes_users_training_needs() -> None:
    parts = split(population(3), RULES)
    assert len(parts.guard.users) == 1 and len(parts.train.users) == 2
    parts = split(population(2), RULES)
    assert parts.guard.users == () and len(parts.train.users) == 2


def test_too_little_data_says_what_was_found_and_needed() -> None:
    with pytest.raises(JobFailed) as failed:
        split(features({"a": {ENROLMENT: 3, "t": 4}}), RULES)
    assert failed.value.reason == "too_little_data"
    assert "7 samples of 1 users" in failed.value.message
    assert "2 are needed" in failed.value.message
    with pytest.raises(JobFailed, match="no usable sample of ghost"):
        split(population(4), RULES, keep=["ghost"])


def test_rules_come_from_the_settings() -> None:
    section = TrainerSection(guard_fraction=0.5, min_train_users=3, split_seed=9)
    rules = SplitRules.of(section)
    assert (rules.guard_fraction, rules.min_train_users, rules.seed) == (0.5, 3, 9)
    assert rules.validation_fraction == section.validation_fraction
