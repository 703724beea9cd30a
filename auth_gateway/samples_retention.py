"""Retention of what terminals upload (``samples`` bucket): erased
``gateway.attempt_media_retention_days`` after it was written (NIST SP 800-63B: keep biometric
samples no longer than needed).

An attempt's upload is kept that long for feedback (a refused attempt later confirmed genuine
becomes a training sample) and for an administrator looking into a decision; the samples worth
learning from were copied to the ``training`` bucket when they were decided, under the trainer's
own retention. Enrolment media that a user's record (``users.enrol_samples``) names are kept
whatever their age: a new model version is re-embedded from them. Anything else in the bucket
past the period goes: an upload whose attempt was never decided (a dead-lettered event), media
left behind by an enrolment that failed half-way.

An object's age is its last-modified time, so nothing has to be recorded at upload. The sweep
reads the enrolment records before it lists the bucket: an enrolment that runs meanwhile writes
new objects, too young to be listed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from core.docstore import Database
from core.logging import get_logger
from core.objectstore import ObjectStore
from core.retention import cutoff, sweep_every
from core.settings.gateway import GatewaySection
from schemas import MediaRef

log = get_logger(__name__)


@dataclass(frozen=True)
class SamplesReport:
    cutoff: datetime
    erased: int  # objects past retention erased
    kept_enrolment: int  # objects past retention kept: enrolment media still in use


async def sweep(
    db: Database, objects: ObjectStore, options: GatewaySection, now: datetime | None = None
) -> SamplesReport:
    """Erases the objects of the ``samples`` bucket written before the retention period, but
    the enrolment media users' records name."""
    before = cutoff(options.attempt_media_retention_days, now)
    bucket = objects.bucket("samples")
    enrolment = await _enrolment_keys(db, bucket)
    old = await objects.list_keys_before(bucket, before)
    erased = await objects.delete_keys(bucket, [k for k in old if k not in enrolment])
    report = SamplesReport(cutoff=before, erased=erased, kept_enrolment=len(old) - erased)
    log.info(
        "attempt media past retention erased",
        erased=report.erased,
        kept_enrolment=report.kept_enrolment,
        cutoff=before.isoformat(),
        retention_days=options.attempt_media_retention_days,
    )
    return report


async def sweep_periodically(
    db: Database, objects: ObjectStore, options: GatewaySection, stop: asyncio.Event
) -> None:
    """Sweeps every ``retention_sweep_interval_s`` until ``stop`` is set."""
    await sweep_every(
        options.retention_sweep_interval_s,
        lambda: sweep(db, objects, options),
        stop,
        what="attempt media",
    )


async def _enrolment_keys(db: Database, bucket: str) -> set[str]:
    keys: set[str] = set()
    query = {"enrol_samples": {"$exists": True}}
    async for user in db["users"].find(query, {"enrol_samples": 1}):
        for sample in user["enrol_samples"]:
            ref = MediaRef.model_validate(sample["ref"])
            if ref.bucket == bucket:
                keys.add(ref.key)
    return keys
