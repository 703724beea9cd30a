"""The embedder adapters' trainer as the job service runs it: data from the snapshot, the
champion from the registry.

:class:`~trainer.embedder.EmbedderTrainer` is pure learning; this module gives it the job's
split base features (``trainer.training_data.load_split``: snapshot, lineage, features, split)
and the active version to beat (the registry's, verified as a gateway would, or the packaged
base), and stamps the outcome with the snapshot and the data counts.
"""

from __future__ import annotations

import asyncio
import dataclasses

from core.registry.onnx_model import LoadedModel, load_adapter
from core.registry.verify import fetch_verified
from schemas.catalog import TRAINER
from schemas.enums import JobStage
from schemas.model_catalog import BASE_VERSION
from trainer.embedder import ChampionModel, EmbedderTrainer, base_champion
from trainer.features import Split
from trainer.pipeline import JobContext, JobFailed, Outcome, Progress
from trainer.registry_of_trainers import TrainerDeps
from trainer.training_data import TrainingData, load_split

# The data counts worth keeping beside champion / challenger's figures (64 metrics at most).
_COUNTS = ("snapshot_items", "samples_used", "train_users", "guard_users")
_MAX_METRICS = 64


class SnapshotEmbedderTrainer:
    """:class:`trainer.pipeline.Trainer` for ``face-embedder`` and ``voice-embedder`` jobs."""

    def __init__(self, deps: TrainerDeps) -> None:
        self._deps = deps
        self._data: TrainingData | None = None

    async def train(self, request: JobContext, progress: Progress) -> Outcome:
        if request.job.request.user_id is not None:
            # A promoted per-user adapter would be published as everyone's next version.
            raise JobFailed(
                "per_user_not_built",
                "per-user models are not built yet: this job would replace the shared model",
            )
        inner = EmbedderTrainer(self._load, champion=self._champion)
        outcome = await inner.train(request, progress)
        data = self._data
        if data is None:
            raise JobFailed("no_data", "the trainer finished without loading the job's data")
        metrics = dict(outcome.metrics)
        for name in _COUNTS:
            if name in data.counts and len(metrics) < _MAX_METRICS:
                metrics[name] = float(data.counts[name])
        return dataclasses.replace(outcome, metrics=metrics, snapshot_digest=data.snapshot.digest)

    async def _load(self, ctx: JobContext, progress: Progress) -> Split:
        async def fraction(done: float) -> None:
            await progress(JobStage.FEATURES, 0.15 * done, "base features from the snapshot")

        deps = self._deps
        self._data = await load_split(
            deps.db, deps.objects, deps.engines, ctx.job, deps.settings.trainer, fraction
        )
        return self._data.split

    async def _champion(self, ctx: JobContext) -> ChampionModel:
        if ctx.champion_version == BASE_VERSION:
            return await base_champion(ctx)
        deps, name = self._deps, ctx.job.request.model
        record = await deps.registry.get(name, ctx.champion_version)
        if record is None:
            raise JobFailed("champion_missing", f"{name} {ctx.champion_version} is gone")
        verified = await fetch_verified(
            deps.objects, record.published_event(TRAINER), deps.settings.models.trust.keys()
        )
        model: LoadedModel = await asyncio.to_thread(load_adapter, verified.data, verified.manifest)
        return model


def embedder_trainer(deps: TrainerDeps) -> SnapshotEmbedderTrainer:
    """The ``face-embedder`` / ``voice-embedder`` trainer of the job service (``TRAINERS``)."""
    return SnapshotEmbedderTrainer(deps)
