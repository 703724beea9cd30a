"""Raw-media retention for training data (NIST SP 800-63B: keep biometric samples no longer
than needed).

A curated sample's media (``training`` bucket) are erased ``trainer.raw_media_retention_days``
after capture, with its ``training_samples`` document. What jobs derived from them stays: the
snapshots (object keys + sha256) and the feature counts recorded with each (see
:func:`trainer.dataset.record_derived`). The service sweeps after every job and on a timer
(``trainer.retention_sweep_interval_s``).

Objects go before their document: a sweep cut short leaves a document whose media are partly
gone, which the next sweep finishes (deleting a missing object is not an error), never media
that no document points at.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from minio.error import S3Error
from pymongo.errors import PyMongoError

from core.docstore import Database
from core.logging import get_logger
from core.objectstore import ObjectStore, ObjectStoreError
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
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.raw_media_retention_days)
    coll = db["training_samples"]
    samples = erased_objects = 0
    async for doc in coll.find({"captured_at": {"$lt": cutoff}}, {"sample_id": 1, "event": 1}):
        event = TrainingSampleCaptured.model_validate_json(doc["event"])
        for ref in (event.face, event.voice):
            if ref is not None:
                await objects.delete(ref.bucket, ref.key)
                erased_objects += 1
        samples += (await coll.delete_one({"sample_id": doc["sample_id"]})).deleted_count
    report = RetentionReport(cutoff=cutoff, samples=samples, objects=erased_objects)
    log.info(
        "training media past retention erased",
        samples=samples,
        objects=erased_objects,
        cutoff=cutoff.isoformat(),
        retention_days=settings.raw_media_retention_days,
    )
    return report


async def sweep_periodically(
    db: Database, objects: ObjectStore, settings: TrainerSection, stop: asyncio.Event
) -> None:
    """Sweeps every ``retention_sweep_interval_s`` until ``stop`` is set; a sweep that fails on
    a store error is logged and tried again at the next tick."""
    while not stop.is_set():
        try:
            await sweep(db, objects, settings)
        except (PyMongoError, S3Error, ObjectStoreError, OSError):
            log.exception("training media retention sweep failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.retention_sweep_interval_s)
        except TimeoutError:
            continue
