"""Embedder adapters on synthetic base features: compensation, head, export, champion/challenger.

The synthetic population: each user has a centre; clean rows scatter around it; the degraded
terminal adds a large shift drawn from a few *nuisance* directions shared by everyone — the
structure NAP is meant to remove.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import TypeAdapter

from core.registry.onnx_model import check_slot, describe
from schemas.enums import JobStage, RetrainReason
from schemas.fields import Code
from schemas.model_catalog import FACE_EMBEDDER, ModelRef, model_spec
from trainer.adapters.compensation import Method, fit_compensation
from trainer.adapters.head import (
    Adapter,
    HeadConfig,
    HeadObjective,
    HeadTraining,
    ResidualHead,
    train_head,
)
from trainer.adapters.onnx_export import INPUT, OUTPUT, export_onnx, parity_check
from trainer.champion import (
    ChampionConfig,
    Embedded,
    compare,
    fit_operating_point,
    pooled,
    split_templates,
    trial_scores,
)
from trainer.embedder import AdapterConfig, EmbedderTrainer
from trainer.features import ENROLMENT, FeatureSet, Split
from trainer.jobs import Job, JobRequest, job_key
from trainer.pipeline import JobContext, JobFailed, Outcome, Progress
from trainer.split import SplitRules, split

WIDTH = 128
KIOSK = "kiosk-7"
# The kiosk shifts every sample the same way on average, and scatters it around that shift.
TERMINAL_BIAS = np.array([1.5, -1.0, 0.5])


@dataclasses.dataclass
class Population:
    nuisance: NDArray[np.float64]  # [3, WIDTH], unit rows

    @classmethod
    def make(cls, seed: int = 0) -> Population:
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.standard_normal((WIDTH, 3)))
        return cls(nuisance=q.T)

    def rows(self, users: range, per_user: int, seed: int, enrol: int = 3) -> FeatureSet:
        """Per user: ``enrol`` clean enrolment rows, then clean and degraded pairs."""
        rng = np.random.default_rng(seed)
        vectors, user_ids, conditions, sample_ids = [], [], [], []
        for u in users:
            centre = rng.standard_normal(WIDTH)
            for i in range(per_user):
                clean = centre + 1.0 * rng.standard_normal(WIDTH)
                vectors.append(clean)
                user_ids.append(f"user{u}")
                conditions.append(ENROLMENT)
                sample_ids.append(f"{u}/{i}/clean")
                if i >= enrol:
                    shift = (rng.standard_normal(3) + TERMINAL_BIAS) @ self.nuisance
                    vectors.append(clean + 6.0 * shift)
                    user_ids.append(f"user{u}")
                    conditions.append(KIOSK)
                    sample_ids.append(f"{u}/{i}/{KIOSK}")
        unit = np.asarray(vectors) / np.linalg.norm(vectors, axis=1, keepdims=True)
        return FeatureSet(
            unit.astype(np.float32), tuple(user_ids), tuple(conditions), tuple(sample_ids)
        )


def _split(pop: Population, users: int = 16, guard: int = 6) -> Split:
    rows = pop.rows(range(users), 12, seed=1)
    index = np.array([int(s.split("/")[1]) for s in rows.sample_ids])
    train = (index < 3) | (index % 2 == 1)
    return Split(
        train=rows.where(train),
        validation=rows.where(~train),
        guard=pop.rows(range(users, users + guard), 8, seed=2),
    )


def _context() -> JobContext:
    now = datetime.now(UTC)
    request = JobRequest(model=FACE_EMBEDDER, reason=RetrainReason.DRIFT, requested_by="test")
    job = Job(job_id="j1", key=job_key(request), request=request, created_at=now, updated_at=now)
    return JobContext(job=job, version="1.1.0", champion_version="1.0.0")


class Recorder:
    def __init__(self) -> None:
        self.stages: list[JobStage] = []

    async def __call__(self, stage: JobStage, fraction: float, message: str = "") -> None:
        assert 0.0 <= fraction <= 1.0
        self.stages.append(stage)


def _run(split: Split, config: AdapterConfig | None = None) -> tuple[Outcome, Recorder]:
    async def load(ctx: JobContext, progress: Progress) -> Split:
        return split

    progress = Recorder()
    trainer = EmbedderTrainer(load, config=config or AdapterConfig(head_epochs=4))
    return asyncio.run(trainer.train(_context(), progress)), progress


def test_nap_projects_out_the_planted_nuisance() -> None:
    pop = Population.make()
    rows = pop.rows(range(10), 10, seed=3)
    comp = fit_compensation(rows, Method.NAP, k=3)
    assert comp.k == 3
    # What is left of each nuisance direction after the projection (a random direction keeps
    # about all of itself: 3 of 128 dimensions are removed).
    left = np.linalg.norm(pop.nuisance @ comp.matrix, axis=1)
    assert left.max() < 0.5
    plain = fit_compensation(rows, Method.NONE)
    assert np.allclose(plain.matrix, np.eye(WIDTH))


def test_condition_nap_finds_the_terminal_shift() -> None:
    pop = Population.make()
    comp = fit_compensation(pop.rows(range(10), 10, seed=3), Method.NAP_CONDITION, k=1)
    bias = TERMINAL_BIAS @ pop.nuisance
    assert np.linalg.norm(bias @ comp.matrix) / np.linalg.norm(bias) < 0.3


def test_wccn_whitens_the_within_user_scatter() -> None:
    pop = Population.make()
    rows = pop.rows(range(10), 10, seed=3)
    comp = fit_compensation(rows, Method.WCCN, shrinkage=0.1)
    projected = (rows.vectors - comp.mean) @ comp.matrix
    users = np.asarray(rows.user_ids)
    within = np.concatenate(
        [projected[users == u] - projected[users == u].mean(0) for u in rows.users]
    )
    before = np.concatenate(
        [rows.vectors[users == u] - rows.vectors[users == u].mean(0) for u in rows.users]
    )

    def spread(x: NDArray[np.floating]) -> float:
        values = np.linalg.eigvalsh(np.cov(x.T))
        return float(values[-1] / np.median(values))

    assert spread(within) < spread(before) / 3


def test_compensation_needs_two_users() -> None:
    rows = Population.make().rows(range(1), 6, seed=0)
    with pytest.raises(ValueError, match="two users"):
        fit_compensation(rows, Method.NAP)


def test_the_untrained_head_is_the_identity() -> None:
    rows = Population.make().rows(range(6), 6, seed=0)
    comp = fit_compensation(rows, Method.NAP, k=3)
    adapter = Adapter(comp, ResidualHead(WIDTH, 32))
    assert np.allclose(adapter.embed(rows.vectors), comp.apply(rows.vectors), atol=1e-5)


def test_consistency_pulls_the_terminal_rows_to_their_users_and_keeps_enrolment() -> None:
    rows = Population.make().rows(range(8), 10, seed=0)
    comp = fit_compensation(rows, Method.NONE, centre=False)
    users = np.asarray(rows.user_ids)
    kiosk = np.asarray(rows.conditions) == KIOSK

    def to_centres(vectors: NDArray[np.float32]) -> float:
        """Mean cosine of each kiosk row to its user's enrolment centre."""
        out = []
        for user in rows.users:
            centre = vectors[(users == user) & ~kiosk].mean(axis=0)
            mine = vectors[(users == user) & kiosk]
            out.extend(mine @ centre / np.linalg.norm(centre))
        return float(np.mean(out))

    before = to_centres(comp.apply(rows.vectors))
    training = HeadTraining(comp, rows, HeadConfig(objective=HeadObjective.CONSISTENCY))
    for _ in range(30):
        training.epoch()
    after = training.adapter.embed(rows.vectors)
    assert training.epochs == 30
    assert to_centres(after) > before + 0.1
    kept = np.sum(after[~kiosk] * comp.apply(rows.vectors)[~kiosk], axis=1)
    assert kept.min() > 0.9


def test_export_fits_the_gateway_slot_and_matches_torch() -> None:
    rows = Population.make().rows(range(6), 6, seed=0)
    comp = fit_compensation(rows, Method.NAP, k=3)
    adapter = train_head(comp, rows, 1)
    onnx = export_onnx(adapter, WIDTH)
    manifest = describe(onnx, FACE_EMBEDDER, "1.1.0")
    assert [t.name for t in manifest.io.inputs] == [INPUT]
    assert [t.name for t in manifest.io.outputs] == [OUTPUT]
    check_slot(model_spec(FACE_EMBEDDER), manifest.io)
    parity = parity_check(adapter, onnx, rows.vectors)
    assert parity.samples == len(rows)
    assert parity.max_abs_diff <= parity.tolerance


def test_a_graph_that_differs_from_torch_fails_the_job() -> None:
    rows = Population.make().rows(range(6), 6, seed=0)
    comp = fit_compensation(rows, Method.NAP, k=3)
    adapter = Adapter(comp, ResidualHead(WIDTH, 32))
    onnx = export_onnx(adapter, WIDTH)
    with np.errstate(all="ignore"):
        adapter.head.outer.bias.data += 0.5  # torch moves on, the exported graph does not
    with pytest.raises(JobFailed) as failed:
        parity_check(adapter, onnx, rows.vectors)
    assert failed.value.reason == "export_parity"


def _sides(split: Split, challenger_probes: FeatureSet | None = None) -> tuple[Embedded, Embedded]:
    templates, _ = split_templates(split.train, 3)
    guard_templates, guard_probes = split_templates(split.guard, 3)
    trials = trial_scores(templates, split.validation, ChampionConfig().scoring)
    base = ModelRef(name=FACE_EMBEDDER, version="1.0.0")
    point = fit_operating_point(pooled(trials, set(trials)), base, 0.01, "test")
    champion = Embedded(templates, split.validation, guard_templates, guard_probes, point)
    challenger = dataclasses.replace(champion, probes=challenger_probes or split.validation)
    return champion, challenger


def test_the_same_model_is_not_promoted() -> None:
    champion, challenger = _sides(_split(Population.make()))
    verdict = compare(champion, challenger)
    assert not verdict.promote
    assert verdict.degraded_condition == KIOSK
    assert "does not lower" in verdict.reasons[0]


def test_a_worse_clean_condition_blocks_promotion() -> None:
    split = _split(Population.make())
    rng = np.random.default_rng(9)
    probes = split.validation
    clean = np.asarray(probes.conditions) == ENROLMENT
    moved = probes.vectors.copy()
    moved[clean] = rng.standard_normal((int(clean.sum()), WIDTH)).astype(np.float32)
    champion, challenger = _sides(split, dataclasses.replace(probes, vectors=moved))
    verdict = compare(champion, challenger)
    assert not verdict.promote
    assert "beyond" in verdict.reasons[1]
    assert verdict.challenger["clean"].eer > verdict.champion["clean"].eer + 0.005


def test_the_adapter_is_promoted_on_the_shifted_terminal() -> None:
    outcome, progress = _run(_split(Population.make()))
    m = outcome.metrics
    assert outcome.promote
    assert m["challenger_eer_degraded"] <= m["champion_eer_degraded"] * 2 / 3
    assert m["challenger_eer_clean"] <= m["champion_eer_clean"] + 0.005
    assert m["trials_genuine_degraded"] > 0 and m["trials_impostor_guard_degraded"] > 0
    assert len(m) <= 64
    codes = TypeAdapter(dict[Code, float])
    codes.validate_python(m)
    point = outcome.operating_point
    assert point is not None
    assert str(point.model) == f"{FACE_EMBEDDER}@1.1.0"
    assert outcome.parity is not None
    assert outcome.onnx
    assert progress.stages[0] is JobStage.FEATURES
    assert JobStage.EVALUATION in progress.stages


def test_one_user_is_too_little_data() -> None:
    split = _split(Population.make())
    one = dataclasses.replace(split, train=split.train.of_users({"user0"}))
    with pytest.raises(JobFailed) as failed:
        _run(one)
    assert failed.value.reason == "too_little_data"


def test_held_back_rows_without_a_degraded_condition_are_too_little_data() -> None:
    split = _split(Population.make())
    only_clean = dataclasses.replace(split, validation=split.validation.in_conditions({ENROLMENT}))
    with pytest.raises(JobFailed) as failed:
        _run(only_clean, AdapterConfig(train_head=False))
    assert failed.value.reason == "too_little_data"


def test_production_shaped_data_is_judged_with_enrolment_rows_as_clean_probes() -> None:
    """As the snapshot lays it out: three enrolment rows per person, then curated samples all
    from one terminal. The split itself (trainer.split) must give champion / challenger its
    clean probes; before it held one enrolment row back, every job failed at evaluation."""
    rows = Population.make().rows(range(22), 12, seed=1)
    kept = np.array(
        [
            c == KIOSK or s.endswith(("/0/clean", "/1/clean", "/2/clean"))
            for s, c in zip(rows.sample_ids, rows.conditions, strict=True)
        ]
    )
    production = rows.where(kept)
    assert production.conditions.count(ENROLMENT) == 3 * 22
    rules = SplitRules(
        guard_fraction=0.3,
        guard_min_users=4,
        validation_fraction=0.3,
        min_train_users=2,
        min_samples_per_user=2,
    )
    outcome, _ = _run(split(production, rules))
    m = outcome.metrics
    assert m["trials_genuine_clean"] > 0 and m["trials_genuine_degraded"] > 0
    assert m["trials_impostor_guard_clean"] > 0
    assert outcome.operating_point is not None and outcome.summary
