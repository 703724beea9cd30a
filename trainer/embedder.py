"""The trainer of the face and voice embedder adapters (``face-embedder``, ``voice-embedder``).

Given the job's base features already split (a loader: ``async (ctx, progress) -> Split``) and
the active version to beat (a champion source: ``async (ctx) -> ChampionModel``, e.g. a
:class:`core.registry.LoadedModel`), it

1. holds back a *development* part of the training users' rows (every ``dev_every``-th
   non-template row of each user) to choose the compensation and stop the head: the validation
   rows stay untouched until champion / challenger;
2. fits the compensation stage (centering + NAP / condition NAP / WCCN; the method and ``k``
   with the lowest development EER on the worst condition) and the residual AAM-softmax head
   on the rest of the training rows;
3. exports the whole adapter to ONNX and checks parity on the validation rows;
4. embeds the same held-back rows and guard set with the champion and the challenger, fits the
   challenger's operating point on the held-back rows, and applies the promotion rule
   (:mod:`trainer.champion`).

CPU work runs in a worker thread so the service's event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from core.biometrics.policy import load_policy
from core.biometrics.vectors import l2_normalise
from core.registry.onnx_model import LoadedModel, offline_default
from schemas.enums import JobStage
from schemas.manifest import OperatingPoint
from schemas.model_catalog import BASE_VERSION, ModelKind, ModelRef, model_spec
from trainer.adapters.compensation import Compensation, Method, fit_compensation
from trainer.adapters.head import Adapter, HeadConfig, ResidualHead, train_head
from trainer.adapters.onnx_export import DEFAULT_TOLERANCE, export_onnx, parity_check
from trainer.champion import (
    ChampionConfig,
    Embedded,
    NoDegradedCondition,
    Trials,
    compare,
    eer_of,
    fit_operating_point,
    fmr_at,
    pooled,
    split_templates,
    trial_scores,
)
from trainer.features import ENROLMENT, FeatureSet, Split
from trainer.pipeline import JobContext, JobFailed, Outcome, Progress

EmbedFn = Callable[[NDArray[np.float32]], NDArray[np.float32]]


class ChampionModel(Protocol):
    """The active version: what :class:`core.registry.LoadedModel` offers."""

    @property
    def operating_point(self) -> OperatingPoint | None: ...

    def embed(self, base: NDArray[np.float32]) -> NDArray[np.float32]: ...


class SplitLoader(Protocol):
    async def __call__(self, ctx: JobContext, progress: Progress) -> Split: ...


ChampionSource = Callable[[JobContext], Awaitable[ChampionModel]]


class AdapterConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    methods: tuple[Method, ...] = (Method.NONE, Method.NAP, Method.NAP_CONDITION, Method.WCCN)
    # k ≈ 5–10 is the usual range (trainer-research §3); 20 of 256 dimensions cost the clean
    # condition on data-large (2.42 -> 2.96 % EER), 10 did not.
    nap_k: tuple[int, ...] = Field(default=(1, 2, 5, 10), description="NAP sizes tried")
    centre: tuple[bool, ...] = Field(default=(False, True), description="with / without mean")
    wccn_shrinkage: float = Field(default=0.1, gt=0.0, le=1.0)
    train_head: bool = True
    head_epochs: int = Field(default=40, ge=1)
    seed: int = 0
    dev_every: int = Field(default=4, ge=2, description="every n-th training row is development")
    min_users: int = Field(default=2, ge=2)
    min_rows_per_user: int = Field(default=4, ge=2)
    min_guard_users: int = Field(default=4, ge=2, description="4+: half set the threshold")
    parity_tolerance: float = Field(default=DEFAULT_TOLERANCE, gt=0.0)
    champion: ChampionConfig = Field(default_factory=ChampionConfig)


async def base_champion(ctx: JobContext) -> ChampionModel:
    """The packaged base version with its operating point from the default policy."""
    ref = ModelRef(name=ctx.job.request.model, version=BASE_VERSION)
    point = load_policy().base_operating_points.get(str(ref))
    model: LoadedModel = offline_default(ref.name, point)
    return model


@dataclasses.dataclass(frozen=True)
class Fitted:
    adapter: Adapter
    compensation: Compensation
    dev_eer: float
    head_epochs: int
    rows: int


@dataclasses.dataclass(frozen=True)
class Judged:
    """Champion / challenger's answer, with the challenger's operating point."""

    operating_point: OperatingPoint
    promote: bool
    summary: str
    metrics: dict[str, float]


def _with(rows: FeatureSet, embed: EmbedFn) -> FeatureSet:
    return dataclasses.replace(rows, vectors=embed(rows.vectors))


def _dev_split(rows: FeatureSet, every: int) -> tuple[FeatureSet, FeatureSet]:
    """Every ``every``-th row of each user and condition for development, the rest for fitting
    (per condition, so the development set has every condition the training rows have)."""
    seen: Counter[tuple[str, str]] = Counter()
    dev = np.zeros(len(rows), dtype=bool)
    for i, key in enumerate(zip(rows.user_ids, rows.conditions, strict=True)):
        seen[key] += 1
        dev[i] = seen[key] % every == 0
    return rows.where(~dev), rows.where(dev)


def _centroid_trials(templates: FeatureSet, probes: FeatureSet) -> dict[str, Trials]:
    """Cosine of every probe to every user's template centroid, by the probe's condition.

    The development signal is computed every epoch, so it is one matrix product rather than
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


def _worst_eer(trials: dict[str, Trials]) -> float:
    """The EER of the worst condition: what a domain-shift job is there to fix, and a stage
    that trades it for the clean condition's is no better for it."""
    usable = [t for t in trials.values() if t.genuine.size and t.impostor.size]
    return max(eer_of(t) for t in usable) if usable else 1.0


class AdapterFit:
    """The learning part, synchronous: compensation search, head, on one training set."""

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config

    def candidates(self) -> Sequence[tuple[Method, int, bool]]:
        out: list[tuple[Method, int, bool]] = []
        for method in self.config.methods:
            ks = self.config.nap_k if method in (Method.NAP, Method.NAP_CONDITION) else (0,)
            out.extend(itertools.product((method,), ks, self.config.centre))
        return out

    def fit(self, train: FeatureSet) -> Fitted:
        templates, rest = split_templates(train, self.config.champion.template_size)
        fit_rows, dev = _dev_split(rest, self.config.dev_every)
        fit_rows = _concat(templates, fit_rows)

        def dev_score(embed: EmbedFn) -> float:
            return _worst_eer(_centroid_trials(_with(templates, embed), _with(dev, embed)))

        best: tuple[float, Compensation] | None = None
        for method, k, centre in self.candidates():
            comp = fit_compensation(
                fit_rows, method, k=k, shrinkage=self.config.wccn_shrinkage, centre=centre
            )
            score = dev_score(comp.apply)
            # Strictly lower only: candidates run from the simplest (the identity) up.
            if best is None or score < best[0]:
                best = (score, comp)
        assert best is not None  # methods is never empty
        dev_eer, chosen = best
        # Chosen on the development rows, then refitted on every training row: a closed-form
        # stage estimated from few users gains more from the extra rows than it risks.
        compensation = fit_compensation(
            train,
            chosen.method,
            k=chosen.k,
            shrinkage=self.config.wccn_shrinkage,
            centre=chosen.centred,
        )
        if not self.config.train_head:
            adapter = Adapter(compensation, ResidualHead(train.width, HeadConfig().hidden))
            return Fitted(adapter, compensation, dev_eer, 0, len(fit_rows))
        head = train_head(
            compensation,
            fit_rows,
            dev_score,
            HeadConfig(max_epochs=self.config.head_epochs, seed=self.config.seed),
        )
        return Fitted(head.adapter, compensation, head.dev_score, head.best_epoch, len(fit_rows))


def _concat(a: FeatureSet, b: FeatureSet) -> FeatureSet:
    return FeatureSet(
        vectors=np.concatenate([a.vectors, b.vectors]),
        user_ids=a.user_ids + b.user_ids,
        conditions=a.conditions + b.conditions,
        sample_ids=a.sample_ids + b.sample_ids,
    )


def check_enough(split: Split, config: AdapterConfig) -> None:
    """:class:`JobFailed` ``too_little_data`` when the split cannot train or judge an adapter."""
    per_user = Counter(split.train.user_ids)
    enough = sorted(u for u, n in per_user.items() if n >= config.min_rows_per_user)
    problems = []
    if len(enough) < config.min_users:
        problems.append(
            f"{len(enough)} users with {config.min_rows_per_user}+ training rows "
            f"(need {config.min_users})"
        )
    if len(split.validation) == 0:
        problems.append("no held-back validation rows")
    if len(split.guard.users) < config.min_guard_users:
        problems.append(f"{len(split.guard.users)} guard users (need {config.min_guard_users})")
    if problems:
        raise JobFailed("too_little_data", "; ".join(problems))


class EmbedderTrainer:
    """:class:`trainer.pipeline.Trainer` for the embedder adapters of the catalog."""

    def __init__(
        self,
        load: SplitLoader,
        champion: ChampionSource = base_champion,
        config: AdapterConfig | None = None,
    ) -> None:
        self._load = load
        self._champion = champion
        self.config = config or AdapterConfig()

    async def train(self, request: JobContext, progress: Progress) -> Outcome:
        spec = model_spec(request.job.request.model)
        if spec.kind is not ModelKind.EMBEDDER_ADAPTER:
            raise JobFailed("wrong_trainer", f"{spec.name} is not an embedder adapter")
        await progress(JobStage.FEATURES, 0.0, "loading base features")
        split = await self._load(request, progress)
        for part in (split.train, split.validation, split.guard):
            if len(part) and part.width != spec.width:
                raise JobFailed(
                    "feature_width", f"{spec.name} takes {spec.width}-d features, got {part.width}"
                )
        check_enough(split, self.config)
        champion = await self._champion(request)

        await progress(JobStage.TRAINING, 0.15, f"fitting on {len(split.train)} rows")
        fitted = await asyncio.to_thread(AdapterFit(self.config).fit, split.train)

        await progress(JobStage.EXPORT, 0.6, "exporting to ONNX")
        onnx = await asyncio.to_thread(export_onnx, fitted.adapter, spec.width)
        parity = await asyncio.to_thread(
            parity_check,
            fitted.adapter,
            onnx,
            split.validation.vectors,
            self.config.parity_tolerance,
        )

        await progress(JobStage.EVALUATION, 0.7, "champion / challenger on held-back data")
        ref = ModelRef(name=spec.name, version=request.version)
        judged = await asyncio.to_thread(
            self._judge, split, champion, fitted, ref, request.champion_version
        )
        await progress(JobStage.EVALUATION, 0.95, judged.summary)
        return Outcome(
            onnx=onnx,
            operating_point=judged.operating_point,
            promote=judged.promote,
            summary=judged.summary,
            metrics=judged.metrics,
            parity=parity,
        )

    def _judge(
        self,
        split: Split,
        champion: ChampionModel,
        fitted: Fitted,
        ref: ModelRef,
        champion_version: str,
    ) -> Judged:
        config = self.config.champion
        templates, _ = split_templates(split.train, config.template_size)
        # Half the guard people (every other one) set the threshold with the enrolled users'
        # held-back rows; the other half checks it. A threshold fitted on enrolled users alone
        # does not transfer: the adapter learnt to push exactly those people apart.
        # With fewer than four guard people, both halves could not have impostor trials: then
        # the held-back rows alone set it and the whole guard set checks it.
        guard_users = split.guard.users
        halves = len(guard_users) >= 4
        threshold_guard = split.guard.of_users(set(guard_users[::2]) if halves else set())
        check_guard = split.guard.of_users(set(guard_users[1::2]) if halves else set(guard_users))
        guard_templates, guard_probes = split_templates(
            check_guard, config.template_size, spare_one=True
        )
        fit_templates, fit_probes = split_templates(
            threshold_guard, config.template_size, spare_one=True
        )

        def embedded(embed: EmbedFn) -> tuple[FeatureSet, FeatureSet, FeatureSet, FeatureSet]:
            return (
                _with(templates, embed),
                _with(split.validation, embed),
                _with(guard_templates, embed),
                _with(guard_probes, embed),
            )

        def threshold_trials(embed: EmbedFn) -> tuple[Trials, ...]:
            """Each condition apart, of the threshold's guard half and the held-back rows: a
            pooled rate would let easy degraded impostors pay for hard clean ones."""
            guard = trial_scores(
                _with(fit_templates, embed), _with(fit_probes, embed), config.scoring
            )
            held = trial_scores(
                _with(templates, embed), _with(split.validation, embed), config.scoring
            )
            return (*guard.values(), *held.values())

        champ_rows = embedded(champion.embed)
        chall_rows = embedded(fitted.adapter.embed)
        fitted_on = (
            f"held-back rows of {len(split.validation.users)} enrolled users, "
            f"{len(split.validation)} probes, all conditions pooled"
        )
        champ_ref = ModelRef(name=ref.name, version=champion_version)
        champ_point = champion.operating_point or fit_operating_point(
            _all_trials(champ_rows, config), champ_ref, config.operating_fmr, fitted_on
        )
        target_fmr = fmr_at(_clean_trials(champ_rows, config), champ_point)
        chall_point = fit_operating_point(
            _all_trials(chall_rows, config),
            ref,
            target_fmr,
            f"{fitted_on}; threshold at the champion's FMR on their clean probes "
            f"({target_fmr:.4f}), also held on {len(threshold_guard.users)} guard people",
            also_holds_on=threshold_trials(fitted.adapter.embed),
        )
        try:
            verdict = compare(
                Embedded(*champ_rows, point=champ_point),
                Embedded(*chall_rows, point=chall_point),
                config,
            )
        except NoDegradedCondition as exc:
            raise JobFailed("too_little_data", str(exc)) from exc
        metrics = {
            **verdict.metrics,
            "users_train": float(len(split.train.users)),
            "rows_fit": float(fitted.rows),
            "rows_validation": float(len(split.validation)),
            "users_guard": float(len(split.guard.users)),
            "nap_k": float(fitted.compensation.k),
            "centred": float(fitted.compensation.centred),
            "head_epochs": float(fitted.head_epochs),
            "dev_eer": fitted.dev_eer,
        }
        summary = (
            f"{'promote' if verdict.promote else 'keep the champion'} "
            f"({fitted.compensation.method.value}, k={fitted.compensation.k}, "
            f"{'centred' if fitted.compensation.centred else 'not centred'}, head epochs "
            f"{fitted.head_epochs}; degraded = {verdict.degraded_condition}): "
            + "; ".join(verdict.reasons)
        )
        return Judged(chall_point, verdict.promote, summary, metrics)


def _clean_trials(
    rows: tuple[FeatureSet, FeatureSet, FeatureSet, FeatureSet], config: ChampionConfig
) -> Trials:
    templates, probes, _, _ = rows
    return pooled(trial_scores(templates, probes, config.scoring), {ENROLMENT})


def _all_trials(
    rows: tuple[FeatureSet, FeatureSet, FeatureSet, FeatureSet], config: ChampionConfig
) -> Trials:
    templates, probes, _, _ = rows
    trials = trial_scores(templates, probes, config.scoring)
    return pooled(trials, set(trials))
