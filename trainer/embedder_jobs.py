"""The embedder adapters' trainer as the job service runs it: data from the snapshot, the
champion from the registry.

:class:`~trainer.embedder.EmbedderTrainer` is pure learning; this module gives it the job's
split base features (``trainer.training_data.load_split``: snapshot, lineage, features, split)
and the active version to beat (the registry's, verified as a gateway would, or the packaged
base), and stamps the outcome with the snapshot and the data counts.
"""

from __future__ import annotations

import dataclasses

from schemas.enums import JobStage
from trainer.active_version import active_champion
from trainer.embedder import ChampionModel, EmbedderTrainer
from trainer.features import Split
from trainer.personal_jobs import PersonalTrainer
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
            # A per-user job never trains the shared adapter: it fits that user's own model.
            return await PersonalTrainer(self._deps).train(request, progress)
        inner = EmbedderTrainer(self._load, champion=self._active)
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

    async def _active(self, ctx: JobContext) -> ChampionModel:
        return await active_champion(self._deps, ctx)


def embedder_trainer(deps: TrainerDeps) -> SnapshotEmbedderTrainer:
    """The ``face-embedder`` / ``voice-embedder`` trainer of the job service (``TRAINERS``)."""
    return SnapshotEmbedderTrainer(deps)
