"""Cross-validated choice of an adapter's stages: folds, pooled scores, the 1-SE rule."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from trainer.adapters.selection import (
    DevScore,
    centroid_trials,
    choose,
    cross_folds,
    pooled_score,
)
from trainer.champion import Trials, split_templates
from trainer.features import ENROLMENT, FeatureSet

KIOSK = "kiosk-7"


def _rows(users: int = 3, enrol: int = 3, curated: int = 8) -> FeatureSet:
    """Per user: ``enrol`` enrolment rows, then ``curated`` pairs of enrolment and kiosk rows."""
    rng = np.random.default_rng(0)
    user_ids, conditions, sample_ids = [], [], []
    for u in range(users):
        for i in range(enrol + curated):
            for cond in (ENROLMENT, KIOSK) if i >= enrol else (ENROLMENT,):
                user_ids.append(f"user{u}")
                conditions.append(cond)
                sample_ids.append(f"{u}/{i}/{cond}")
    vectors = rng.standard_normal((len(user_ids), 8)).astype(np.float32)
    return FeatureSet(vectors, tuple(user_ids), tuple(conditions), tuple(sample_ids))


def test_every_curated_row_is_development_once_and_templates_always_fit() -> None:
    rows = _rows()
    templates, folds = cross_folds(rows, template_size=3, folds=4)
    assert len(templates) == 9
    dev_ids = Counter(sid for fold in folds for sid in fold.dev.sample_ids)
    assert set(dev_ids) == set(rows.sample_ids) - set(templates.sample_ids)
    assert set(dev_ids.values()) == {1}
    for fold in folds:
        assert set(templates.sample_ids) <= set(fold.fit.sample_ids)
        assert not set(fold.fit.sample_ids) & set(fold.dev.sample_ids)
        # Each user's conditions are spread over the folds: two rows of each in each.
        assert Counter(zip(fold.dev.user_ids, fold.dev.conditions, strict=True)) == {
            (f"user{u}", cond): 2 for u in range(3) for cond in (ENROLMENT, KIOSK)
        }


def test_the_pooled_score_is_the_worst_condition_over_all_folds() -> None:
    separated = Trials(np.array([0.9, 0.8]), np.array([0.1, 0.2]))
    overlapping = Trials(np.array([0.5]), np.array([0.6]))
    score = pooled_score([{ENROLMENT: separated, KIOSK: separated}, {KIOSK: overlapping}])
    # The kiosk pools three genuine trials, one of them below an impostor's score.
    assert score.genuine == 3
    assert score.eer > 0.0
    assert pooled_score([{ENROLMENT: separated}]).eer == 0.0


def test_centroid_trials_score_each_probe_against_each_user() -> None:
    rows = _rows(users=2, curated=1)
    templates, probes = split_templates(rows, 3)
    trials = centroid_trials(templates, probes)
    # Per user one curated enrolment row and one kiosk row, each scored against both users.
    for cond in (ENROLMENT, KIOSK):
        assert trials[cond].genuine.size == 2
        assert trials[cond].impostor.size == 2
    # A probe at its user's centroid (of unit templates) scores 1.
    mine = templates.where(np.asarray(templates.user_ids) == "user0").vectors
    mean = (mine / np.linalg.norm(mine, axis=1, keepdims=True)).mean(axis=0, keepdims=True)
    own = FeatureSet(mean, ("user0",), (KIOSK,), ("centre",))
    assert centroid_trials(templates, own)[KIOSK].genuine[0] == pytest.approx(1.0)


def test_one_standard_error_keeps_the_simplest_candidate_within_noise() -> None:
    noisy = [DevScore(0.050, 100), DevScore(0.040, 100), DevScore(0.045, 100)]
    # sqrt(0.04 * 0.96 / 100) ≈ 0.0196: the identity at 5 % is within it of the best 4 %.
    assert choose(noisy) == 0
    assert choose(noisy, one_standard_error=False) == 1
    clear = [DevScore(0.38, 300), DevScore(0.12, 300), DevScore(0.11, 300)]
    assert choose(clear) == 1
    with pytest.raises(ValueError):
        choose([])
