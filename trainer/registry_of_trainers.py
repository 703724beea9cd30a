"""Which :class:`~trainer.pipeline.Trainer` trains which model of the catalog.

A trainer is made per job by a factory that receives :class:`TrainerDeps` (the settings, the
document and object stores, the model registry, and the biometric engines loaded once per
process). Factories are named by import path in :data:`TRAINERS`, so a model's heavy
dependencies (torch, ultralytics) are imported only when a job of that model runs::

    TRAINERS[FACE_EMBEDDER] = "trainer.embedder:face_embedder_trainer"

Tests, and ``kibalock train``, may pass their own :class:`TrainerRegistry`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from core.docstore import Database
from core.objectstore import ObjectStore
from core.registry import ModelRegistry
from core.settings import Settings
from schemas.model_catalog import FACE_DETECTOR, FACE_EMBEDDER, VOICE_EMBEDDER
from trainer.pipeline import JobFailed, Trainer

if TYPE_CHECKING:
    from trainer.extract import Engines


@dataclass
class TrainerDeps:
    """What a trainer is built with; one per service process, shared by its jobs."""

    settings: Settings
    db: Database
    objects: ObjectStore
    registry: ModelRegistry

    # The biometric engines, each loaded on first use (seconds, hundreds of MB) and then shared
    # by every job of the process.
    @cached_property
    def engines(self) -> Engines:
        from trainer.extract import Engines

        return Engines()


TrainerFactory = Callable[[TrainerDeps], Trainer]

# model name → "module:factory", imported when a job of that model runs.
TRAINERS: dict[str, str] = {
    FACE_EMBEDDER: "trainer.embedder_jobs:embedder_trainer",
    VOICE_EMBEDDER: "trainer.embedder_jobs:embedder_trainer",
    FACE_DETECTOR: "trainer.detector.snapshot_images:face_detector_trainer",
}


class TrainerRegistry:
    def __init__(self, factories: Mapping[str, TrainerFactory | str] | None = None) -> None:
        self._factories: dict[str, TrainerFactory | str] = dict(
            TRAINERS if factories is None else factories
        )

    @property
    def models(self) -> list[str]:
        return sorted(self._factories)

    def register(self, model: str, factory: TrainerFactory | str) -> None:
        self._factories[model] = factory

    def create(self, model: str, deps: TrainerDeps) -> Trainer:
        """A trainer for one job of ``model``; :class:`JobFailed` if none is registered."""
        factory = self._factories.get(model)
        if factory is None:
            known = ", ".join(self.models) or "none"
            raise JobFailed("no_trainer", f"no trainer is registered for {model} (known: {known})")
        if isinstance(factory, str):
            module, _, name = factory.partition(":")
            factory = getattr(importlib.import_module(module), name)
        return factory(deps)
