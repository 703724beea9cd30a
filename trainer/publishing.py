"""The version a job trains, and the publication of what it trained.

Versions: a job trains the next minor version above every version of its model the registry
knows or another job reserved (``1.3.0`` → ``1.4.0``); the store reserves it, so two jobs of one
model never train the same version. Publication goes through :func:`core.registry.publish`, the
one path every publisher takes, with the manifest built from the outcome: its operating point,
parity check and figures, and its lineage (the champion it beat, the job, the data snapshot).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator

from core.bus import EventProducer
from core.registry import describe, publish
from core.settings import Settings
from schemas import ModelPublished
from schemas.catalog import TRAINER
from schemas.manifest import Manifest, SignerLike
from schemas.model_catalog import BASE_VERSION
from trainer.jobs import Job
from trainer.pipeline import JobContext, Outcome

_RELEASE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


def release_of(version: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a semantic version; pre-release and build parts are ignored."""
    match = _RELEASE.match(version)
    if match is None:
        raise ValueError(f"{version!r} is not a semantic version")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def next_versions(existing: Iterable[str]) -> Iterator[str]:
    """Minor bumps above the highest of ``existing`` and the packaged base version, in order."""
    major, minor, _ = max(release_of(v) for v in (BASE_VERSION, *existing))
    while True:
        minor += 1
        yield f"{major}.{minor}.0"


async def manifest_for(job: Job, context: JobContext, outcome: Outcome) -> Manifest:
    """The unsigned manifest of a trained version (sha256, size and I/O read from the bytes)."""
    manifest = await asyncio.to_thread(
        describe,
        outcome.onnx,
        job.request.model,
        context.version,
        operating_point=outcome.operating_point,
        validation_metrics=dict(outcome.metrics),
        parent_version=context.champion_version,
        training_job_id=job.job_id,
        data_snapshot_id=outcome.snapshot_digest,
    )
    return manifest.model_copy(update={"parity": outcome.parity})


async def publish_outcome(
    settings: Settings,
    job: Job,
    context: JobContext,
    outcome: Outcome,
    signer: SignerLike,
    producer: EventProducer,
) -> ModelPublished:
    """Checks, signs, uploads, registers and announces the version a job trained."""
    manifest = await manifest_for(job, context, outcome)
    return await publish(settings, outcome.onnx, manifest, signer, by=TRAINER, producer=producer)
