"""Raw-media retention for training data (NIST SP 800-63B: keep biometric samples no longer
than needed).

A curated sample's media (``training`` bucket) are erased ``trainer.raw_media_retention_days``
after capture, with its ``training_samples`` document. What jobs derived from them stays: the
snapshots (object keys + sha256) and the feature counts recorded with each (see
:func:`trainer.dataset.record_derived`). The service sweeps when it starts and then on a timer
(``trainer.retention_sweep_interval_s``).

Objects go before their document: a sweep cut short leaves a document whose media are partly
gone, which the next sweep finishes (deleting a missing object is not an error), never media
that no document points at.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from core.docstore import Database
from core.logging import get_logger
from core.objectstore import ObjectStore
from core.retention import cutoff, sweep_every
from core.settings.trainer import TrainerSection
from schemas import TrainingSampleCaptured

log = get_logger(__name__)


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime
    samples: int  # training_samples documents erased
    objects: int  # media objects erased


async def sweep(
    db: Database, objects: ObjectStore, settings: TrainerSection, now: datetime | None = None
) -> RetentionReport:
    """Erases the curated samples captured before the retention period."""
    before = cutoff(settings.raw_media_retention_days, now)
    coll = db["training_samples"]
    samples = erased_objects = 0
    async for doc in coll.find({"captured_at": {"$lt": before}}, {"sample_id": 1, "event": 1}):
        event = TrainingSampleCaptured.model_validate_json(doc["event"])
        for ref in (event.face, event.voice):
            if ref is not None:
                await objects.delete(ref.bucket, ref.key)
                erased_objects += 1
        samples += (await coll.delete_one({"sample_id": doc["sample_id"]})).deleted_count
    report = RetentionReport(cutoff=before, samples=samples, objects=erased_objects)
    log.info(
        "training media past retention erased",
        samples=samples,
        objects=erased_objects,
        cutoff=before.isoformat(),
        retention_days=settings.raw_media_retention_days,
    )
    return report


async def sweep_periodically(
    db: Database, objects: ObjectStore, settings: TrainerSection, stop: asyncio.Event
) -> None:
    """Sweeps every ``retention_sweep_interval_s`` until ``stop`` is set."""
    await sweep_every(
        settings.retention_sweep_interval_s,
        lambda: sweep(db, objects, settings),
        stop,
        what="training media",
    )
