"""What a trainer calls to get its data: snapshot → base features → split, with lineage.

One call does the whole data stage of a job: it takes the snapshot of the job's modality,
records it (``training_snapshots``, by digest) and what was derived from it, extracts the base
features with the gateway's engines and splits them. The job keeps ``snapshot.digest``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from core.docstore import Database
from core.objectstore import ObjectStore
from core.settings.trainer import TrainerSection
from trainer.dataset import Dated, Snapshot, SnapshotItem, record_derived, save, take_snapshot
from trainer.extract import Engines, FractionProgress, extract
from trainer.features import Split
from trainer.jobs import Job
from trainer.pipeline import JobFailed
from trainer.split import SplitRules, split


@dataclass(frozen=True)
class TrainingData:
    split: Split
    snapshot: Snapshot
    counts: dict[str, int]  # for the job's metrics: items, rows used, skipped and split sizes


async def load_split(
    db: Database,
    objects: ObjectStore,
    engines: Engines,
    job: Job,
    settings: TrainerSection,
    progress: FractionProgress | None = None,
    extra: Sequence[SnapshotItem | Dated] = (),
) -> TrainingData:
    """The split data of ``job``; ``extra``: another source's items (imported media).

    Raises ``JobFailed(too_little_data)`` when what is usable is below the settings' minimums;
    the message says what was found, skipped media included.
    """
    snapshot = await take_snapshot(
        db,
        job.request.model,
        max_per_user=settings.max_samples_per_user,
        source=job.request.source,
        extra=extra,
    )
    await save(db, snapshot, job_id=job.job_id)
    analyse = await asyncio.to_thread(engines.analyser, snapshot.modality)
    extraction = await extract(objects, snapshot, analyse, progress)
    counts = (
        {"snapshot_items": len(snapshot.items)}
        | {f"excluded_{reason}": n for reason, n in snapshot.excluded.items()}
        | extraction.counts()
    )
    await record_derived(db, snapshot.digest, job_id=job.job_id, counts=counts)
    keep = () if job.request.user_id is None else (job.request.user_id,)
    try:
        parts = split(extraction.features, SplitRules.of(settings), keep=keep)
    except JobFailed as failed:
        if not extraction.skipped:
            raise
        skipped = ", ".join(f"{reason} {n}" for reason, n in extraction.skipped.items())
        raise JobFailed(failed.reason, f"{failed.message}; media skipped: {skipped}") from None
    counts |= {
        "train_rows": len(parts.train),
        "train_users": len(parts.train.users),
        "validation_rows": len(parts.validation),
        "guard_rows": len(parts.guard),
        "guard_users": len(parts.guard.users),
    }
    return TrainingData(split=parts, snapshot=snapshot, counts=counts)
