"""The trainer of the face and voice embedder adapters (``face-embedder``, ``voice-embedder``).

Given the job's base features already split (a loader: ``async (ctx, progress) -> Split``) and
the active version to beat (a champion source: ``async (ctx) -> ChampionModel``, e.g. a
:class:`core.registry.LoadedModel`), it

1. chooses, by cross-validation on the training users' rows (:mod:`trainer.adapters
   .selection`: pooled folds, the one-standard-error rule), the compensation stage (centering +
   NAP / condition NAP / WCCN, and ``k``) and then the head's objective and epochs; the
   validation rows stay untouched until champion / challenger;
2. fits the chosen compensation and head on every training row;
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
from core.registry.onnx_model import LoadedModel, offline_default
from schemas.enums import JobStage
from schemas.manifest import OperatingPoint
from schemas.model_catalog import BASE_VERSION, ModelKind, ModelRef, model_spec
from trainer.adapters.compensation import Compensation, Method, fit_compensation
from trainer.adapters.head import (
    Adapter,
    HeadConfig,
    HeadObjective,
    HeadTraining,
    ResidualHead,
    train_head,
)
from trainer.adapters.onnx_export import DEFAULT_TOLERANCE, export_onnx, parity_check
from trainer.adapters.selection import (
    DevScore,
    Fold,
    centroid_trials,
    choose,
    cross_folds,
    pooled_score,
)
from trainer.champion import (
    ChampionConfig,
    Embedded,
    NoDegradedCondition,
    Trials,
    compare,
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
    head_objectives: tuple[HeadObjective, ...] = Field(
        default=(HeadObjective.AAM, HeadObjective.CONSISTENCY),
        min_length=1,
        description="each one's epochs compete with no head at all (trainer.adapters.selection)",
    )
    head_epochs: int = Field(default=40, ge=1, description="at most")
    head_patience: int = Field(default=8, ge=1, description="epochs without a better one")
    seed: int = 0
    folds: int = Field(default=4, ge=2, description="cross-validation parts of the curated rows")
    # Without it, 40 face identities picked a whitening and a head that lost 42 % on held-back
    # rows; with it, no stage that only wins by noise (trainer.adapters.selection).
    one_standard_error: bool = Field(
        default=True, description="the simplest candidate within 1 SE of the best wins"
    )
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
    objective: HeadObjective | None  # None: no head (the identity)
    head_epochs: int
    dev: DevScore  # the chosen candidate's cross-validated development score
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


class AdapterFit:
    """The learning part, synchronous: compensation and head, chosen by cross-validation and
    fitted on one training set."""

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config

    def candidates(self) -> Sequence[tuple[Method, int, bool]]:
        """Every compensation tried, simplest first for the one-standard-error rule: the
        identity, then each method by growing ``k``, uncentred before centred."""
        out: list[tuple[Method, int, bool]] = []
        for method in self.config.methods:
            ks = self.config.nap_k if method in (Method.NAP, Method.NAP_CONDITION) else (0,)
            out.extend(itertools.product((method,), ks, self.config.centre))
        return out

    def _compensation(self, rows: FeatureSet, method: Method, k: int, centre: bool) -> Compensation:
        return fit_compensation(
            rows, method, k=k, shrinkage=self.config.wccn_shrinkage, centre=centre
        )

    def fit(self, train: FeatureSet) -> Fitted:
        templates, folds = cross_folds(train, self.config.champion.template_size, self.config.folds)

        def score(embeds: Sequence[EmbedFn]) -> DevScore:
            """The pooled development score of one candidate, one embedding per fold."""
            return pooled_score(
                [
                    centroid_trials(_with(templates, embed), _with(fold.dev, embed))
                    for embed, fold in zip(embeds, folds, strict=True)
                ]
            )

        candidates = self.candidates()
        scores = [
            score([self._compensation(fold.fit, *c).apply for fold in folds]) for c in candidates
        ]
        chosen = choose(scores, one_standard_error=self.config.one_standard_error)
        method, k, centre = candidates[chosen]
        compensation = self._compensation(train, method, k, centre)
        identity = Fitted(
            Adapter(compensation, ResidualHead(train.width, HeadConfig().hidden)),
            compensation,
            None,
            0,
            scores[chosen],
            len(train),
        )
        if not self.config.train_head:
            return identity
        fold_compensations = [self._compensation(fold.fit, method, k, centre) for fold in folds]
        # Epoch 0 (no head) first, then each objective's epochs in order: simplest first.
        options: list[tuple[HeadObjective | None, int]] = [(None, 0)]
        option_scores = [score([c.apply for c in fold_compensations])]
        for tried in self.config.head_objectives:
            curve = self._head_curve(tried, fold_compensations, folds, score)
            options.extend((tried, epoch) for epoch in range(1, len(curve)))
            option_scores.extend(curve[1:])
        best = choose(option_scores, one_standard_error=self.config.one_standard_error)
        objective, epochs = options[best]
        if objective is None:
            return identity
        config = HeadConfig(objective=objective, seed=self.config.seed)
        return Fitted(
            train_head(compensation, train, epochs, config),
            compensation,
            objective,
            epochs,
            option_scores[best],
            len(train),
        )

    def _head_curve(
        self,
        objective: HeadObjective,
        compensations: Sequence[Compensation],
        folds: Sequence[Fold],
        score: Callable[[Sequence[EmbedFn]], DevScore],
    ) -> list[DevScore]:
        """The pooled development score after each epoch (index 0: no head), one head per fold
        trained in step, until ``head_patience`` epochs bring no lower score."""
        config = HeadConfig(objective=objective, seed=self.config.seed)
        runs = [
            HeadTraining(c, fold.fit, config) for c, fold in zip(compensations, folds, strict=True)
        ]
        curve = [score([run.adapter.embed for run in runs])]
        best = 0
        for epoch in range(1, self.config.head_epochs + 1):
            for run in runs:
                run.epoch()
            curve.append(score([run.adapter.embed for run in runs]))
            if curve[-1].eer < curve[best].eer:
                best = epoch
            elif epoch - best >= self.config.head_patience:
                break
        return curve


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
            "dev_eer": fitted.dev.eer,
            "dev_genuine_trials": float(fitted.dev.genuine),
        }
        summary = (
            f"{'promote' if verdict.promote else 'keep the champion'} "
            f"({fitted.compensation.method.value}, k={fitted.compensation.k}, "
            f"{'centred' if fitted.compensation.centred else 'not centred'}, "
            f"{_head_summary(fitted)}; degraded = {verdict.degraded_condition}): "
            + "; ".join(verdict.reasons)
        )
        return Judged(chall_point, verdict.promote, summary, metrics)


def _head_summary(fitted: Fitted) -> str:
    if fitted.objective is None:
        return "no head"
    return f"{fitted.objective.value} head, {fitted.head_epochs} epochs"


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
