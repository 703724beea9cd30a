"""The version a job must beat: the registry's active one, verified as a gateway would verify
it, or the packaged base when nothing was ever activated."""

from __future__ import annotations

import asyncio

from core.registry.onnx_model import LoadedModel, load_adapter
from core.registry.verify import fetch_verified
from schemas.catalog import TRAINER
from schemas.model_catalog import BASE_VERSION
from trainer.embedder import ChampionModel, base_champion
from trainer.pipeline import JobContext, JobFailed
from trainer.registry_of_trainers import TrainerDeps


async def active_champion(deps: TrainerDeps, ctx: JobContext) -> ChampionModel:
    """The active version of the job's model, verified as a gateway would, or the packaged base."""
    if ctx.champion_version == BASE_VERSION:
        return await base_champion(ctx)
    name = ctx.job.request.model
    record = await deps.registry.get(name, ctx.champion_version)
    if record is None:
        raise JobFailed("champion_missing", f"{name} {ctx.champion_version} is gone")
    verified = await fetch_verified(
        deps.objects, record.published_event(TRAINER), deps.settings.models.trust.keys()
    )
    model: LoadedModel = await asyncio.to_thread(load_adapter, verified.data, verified.manifest)
    return model
