"""The contract between the job service and the code that trains one kind of model.

The service owns the job's lifecycle (lease, state, events); a :class:`Trainer` owns the
machine learning. It reports progress through :class:`Progress` and returns an
:class:`Outcome`; it raises :class:`JobFailed` with a reason for an expected failure (too little
data, corrupt samples), which the service records without a traceback. It never publishes a
half-made model: publishing is the last step, done by the service through
``core.registry.publish`` only when the outcome says ``promote``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from schemas.enums import JobStage
from schemas.manifest import OperatingPoint, ParityCheck
from trainer.jobs import Job


class JobFailed(Exception):
    """An expected, explained failure: the job ends ``failed`` with ``reason``: ``message``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Progress(Protocol):
    async def __call__(self, stage: JobStage, fraction: float, message: str = "") -> None:
        """Report that the job is at ``fraction`` (0..1) of the whole, in ``stage``."""


@dataclass(frozen=True)
class Outcome:
    """What a training run produced, promoted or not."""

    onnx: bytes
    # Fitted on held-back data, for the new version; None for a model whose outputs are not
    # scored against templates (the face detector: ``ModelSpec.scored``).
    operating_point: OperatingPoint | None
    promote: bool  # champion / challenger verdict
    summary: str  # one line for the job's message
    metrics: dict[str, float] = field(default_factory=dict)  # both sides' figures, data counts
    parity: ParityCheck | None = None  # None only for models not trained in a framework
    snapshot_digest: str | None = None  # the dataset snapshot, for lineage
    conditions: tuple[str, ...] = ()  # a personal model's prototypes, one condition each


@dataclass(frozen=True)
class JobContext:
    """What a trainer is given: the job, the version to produce and the active one to beat."""

    job: Job
    version: str  # the version this run trains (the service picks the next free one)
    champion_version: str  # the active version it must beat on the same held-back data


class Trainer(Protocol):
    """Trains one kind of model of the catalog (an embedder adapter, the face detector…)."""

    async def train(self, request: JobContext, progress: Progress) -> Outcome:
        """Train version ``request.version``; raise :class:`JobFailed` for an explained failure."""
