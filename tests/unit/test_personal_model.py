"""Per-user voice models, pure: prototypes, the cohort mapping, the verdict, the ONNX graph."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from core.biometrics.scoring import ScoringConfig, template_score
from trainer.features import ENROLMENT, FeatureSet
from trainer.personal import PersonalConfig, PersonalParams, fit_personal, judge
from trainer.personal_onnx import export_personal, personal_parity
from trainer.pipeline import JobFailed

WIDTH = 32
NOISY = "terminal-noisy"
rng = np.random.default_rng(7)
CHANNEL = rng.standard_normal(WIDTH)
IDENTITY = {f"u{i}": rng.standard_normal(WIDTH) for i in range(12)}


def rows(user: str, condition: str, n: int, seed: int) -> FeatureSet:
    noise = np.random.default_rng(seed).standard_normal((n, WIDTH))
    # The noisy terminal drowns half of the voice in its channel: the template fits it badly.
    if condition == NOISY:
        vectors = 0.5 * IDENTITY[user] + 1.2 * CHANNEL + 0.4 * noise
    else:
        vectors = IDENTITY[user] + 0.5 * noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return FeatureSet(
        vectors=vectors.astype(np.float32),
        user_ids=(user,) * n,
        conditions=(condition,) * n,
        sample_ids=tuple(f"{user}/{condition}/{seed}/{i}" for i in range(n)),
    )


def union(*parts: FeatureSet) -> FeatureSet:
    return FeatureSet(
        vectors=np.concatenate([p.vectors for p in parts]),
        user_ids=sum((p.user_ids for p in parts), ()),
        conditions=sum((p.conditions for p in parts), ()),
        sample_ids=sum((p.sample_ids for p in parts), ()),
    )


def training(noisy_rows: int = 40) -> FeatureSet:
    cohort = [
        rows(f"u{i}", c, 6, 10 * i + k)
        for i in range(1, 8)
        for k, c in enumerate((ENROLMENT, NOISY))
    ]
    return union(rows("u0", ENROLMENT, 5, 1), rows("u0", NOISY, noisy_rows, 2), *cohort)


def guard() -> FeatureSet:
    return union(
        *(
            rows(f"u{i}", c, 10, 100 + 10 * i + k)
            for i in range(8, 12)
            for k, c in enumerate((ENROLMENT, NOISY))
        )
    )


def threshold_of(template: NDArray[np.float32]) -> float:
    """A strict raw threshold: above every clean impostor of the cohort against ``template``."""
    clean = training().of_users({"u3", "u4", "u5"}).in_conditions({ENROLMENT})
    return max(template_score(v, template, ScoringConfig()) for v in clean.vectors) + 0.1


def fitted(train: FeatureSet, config: PersonalConfig | None = None) -> PersonalParams:
    template = train.of_users({"u0"}).in_conditions({ENROLMENT}).vectors
    return fit_personal("u0", train, threshold_of(template), config or PersonalConfig())


def test_the_personal_model_lifts_the_users_noisy_probes_without_letting_the_guard_in() -> None:
    train = training()
    params = fitted(train)
    assert params.conditions == (NOISY,)
    template = train.of_users({"u0"}).in_conditions({ENROLMENT}).vectors
    probes = rows("u0", NOISY, 20, 3)
    verdict = judge(
        "u0", params, template, probes, guard(), threshold_of(template), ScoringConfig()
    )
    m = verdict.metrics
    assert m["genuine_median_worst_after"] > m["genuine_median_worst_before"] + 0.1
    assert m["guard_fmr_after"] <= m["guard_fmr_before"]
    assert m["genuine_accept_after"] > m["genuine_accept_before"]
    assert verdict.promote, verdict.summary


def test_without_the_cohort_mapping_the_channel_would_let_impostors_in() -> None:
    """The mapping is what keeps the noisy channel from matching everyone on it."""
    train = training()
    params = fitted(train)
    unmapped = type(params)(
        prototypes=params.prototypes,
        scale=np.ones_like(params.scale),
        offset=np.zeros_like(params.offset),
        conditions=params.conditions,
    )
    noisy_guard = guard().in_conditions({NOISY})
    assert unmapped.scores(noisy_guard.vectors).mean() > params.scores(noisy_guard.vectors).mean()


def test_a_model_that_lets_the_guard_in_is_not_promoted() -> None:
    train = training()
    params = fitted(train)
    template = train.of_users({"u0"}).in_conditions({ENROLMENT}).vectors
    lenient = type(params)(params.prototypes, params.scale, params.offset + 1.0, params.conditions)
    probes = rows("u0", NOISY, 5, 5)
    verdict = judge(
        "u0", lenient, template, probes, guard(), threshold_of(template), ScoringConfig()
    )
    assert verdict.metrics["guard_fmr_after"] > verdict.metrics["guard_fmr_before"]
    assert not verdict.promote
    assert "false matches rose" in verdict.summary


def test_too_few_curated_rows_is_an_explained_failure() -> None:
    with pytest.raises(JobFailed) as failed:
        fitted(training(noisy_rows=3), PersonalConfig(min_rows_per_condition=5))
    assert failed.value.reason == "too_little_data"
    assert "terminal-noisy 3" in failed.value.message


def test_the_onnx_graph_matches_the_reference() -> None:
    params = fitted(training())
    data = export_personal(params)
    check = personal_parity(data, params, guard().vectors)
    assert check.samples == len(guard())
    assert check.max_abs_diff < 1e-5
    tampered = type(params)(
        params.prototypes, params.scale * 1.01, params.offset, params.conditions
    )
    with pytest.raises(JobFailed) as failed:
        personal_parity(data, tampered, guard().vectors)
    assert failed.value.reason == "parity_failed"


def test_no_cohort_member_reaches_the_threshold_on_a_prototype_alone() -> None:
    """The cap: the tail, not the mean, is where the operating point lies."""
    train = training()
    template = train.of_users({"u0"}).in_conditions({ENROLMENT}).vectors
    threshold = threshold_of(template)
    cohort = train.of_users(set(train.users) - {"u0"})
    capped = fit_personal("u0", train, threshold, PersonalConfig(margin=0.5))
    assert capped.scores(cohort.vectors).max() < threshold
    uncapped = fit_personal("u0", train, threshold, PersonalConfig(margin=-1e9))
    assert np.all(uncapped.offset >= capped.offset)
