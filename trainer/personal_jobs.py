"""The per-user job (a ``voice-embedder`` job naming a user): that user's personal model.

The processors trigger it when a user's curated voice samples reach
``processors.personalisation_samples``. It takes the same snapshot and split as a shared job
(every user's rows: the others are the impostor cohort and the guard set), reads them with the
active shared version, fits the user's prototypes (:mod:`trainer.personal`), exports and checks
the ONNX graph, and judges it on the user's held-back rows and the guard set. Publication is
the service's (:mod:`trainer.personal_publish`), and never touches the shared model.
"""

from __future__ import annotations

import asyncio
import dataclasses

from core.biometrics.scoring import ScoringConfig
from schemas.enums import JobStage
from schemas.manifest import OperatingPoint
from schemas.personal import PERSONALISED
from trainer.active_version import active_champion
from trainer.champion import raw_threshold
from trainer.embedder import ChampionModel
from trainer.features import ENROLMENT, FeatureSet
from trainer.personal import DEFAULT_CONFIG, PersonalConfig, fit_personal, judge
from trainer.personal_onnx import export_personal, personal_parity
from trainer.pipeline import JobContext, JobFailed, Outcome, Progress
from trainer.registry_of_trainers import TrainerDeps
from trainer.training_data import load_split


def _adapted(rows: FeatureSet, champion: ChampionModel) -> FeatureSet:
    return dataclasses.replace(rows, vectors=champion.embed(rows.vectors))


class PersonalTrainer:
    def __init__(self, deps: TrainerDeps, config: PersonalConfig = DEFAULT_CONFIG) -> None:
        self._deps = deps
        self._config = config

    async def train(self, request: JobContext, progress: Progress) -> Outcome:
        job, deps = request.job, self._deps
        user_id = job.request.user_id
        if user_id is None or job.request.model not in PERSONALISED:
            raise JobFailed(
                "personal_not_offered",
                f"personal models exist for {', '.join(PERSONALISED)} users only",
            )

        async def fraction(done: float) -> None:
            await progress(JobStage.FEATURES, 0.6 * done, "base features from the snapshot")

        data = await load_split(
            deps.db, deps.objects, deps.engines, job, deps.settings.trainer, fraction
        )
        champion = await active_champion(deps, request)
        point = champion.operating_point
        if point is None:
            raise JobFailed(
                "uncalibrated_champion",
                f"{job.request.model} {request.champion_version} has no operating point",
            )
        await progress(JobStage.TRAINING, 0.7, f"prototypes of {user_id}")
        parts = data.split
        outcome = await asyncio.to_thread(
            self._fit, user_id, parts.train, parts.validation, parts.guard, champion, point
        )
        await progress(JobStage.EVALUATION, 0.95, outcome.summary)
        counts = {f"data_{k}": float(v) for k, v in data.counts.items() if k.endswith("_users")}
        return dataclasses.replace(
            outcome,
            metrics=outcome.metrics | counts,
            snapshot_digest=data.snapshot.digest,
        )

    def _fit(
        self,
        user_id: str,
        train: FeatureSet,
        validation: FeatureSet,
        guard: FeatureSet,
        champion: ChampionModel,
        point: OperatingPoint,
    ) -> Outcome:
        train, validation, guard = (_adapted(r, champion) for r in (train, validation, guard))
        threshold = raw_threshold(point)
        params = fit_personal(user_id, train, threshold, self._config)
        template = train.of_users({user_id}).in_conditions({ENROLMENT}).vectors
        scoring: ScoringConfig = self._config.scoring
        verdict = judge(user_id, params, template, validation, guard, raw_threshold(point), scoring)
        onnx = export_personal(params)
        probes = validation.of_users({user_id}).vectors
        parity = personal_parity(onnx, params, probes)
        return Outcome(
            onnx=onnx,
            operating_point=None,  # scored on the shared version's scale, read at its point
            promote=verdict.promote,
            summary=verdict.summary,
            metrics=verdict.metrics,
            parity=parity,
            conditions=params.conditions,
        )
