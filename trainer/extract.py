"""Snapshot → base features: each medium read back (sha256 checked) and run through the engines.

The engines are the gateway's own (``core.biometrics``: :class:`FaceEngine`,
:class:`VoiceEngine`), so a row here is exactly the base embedding the gateway computes for the
same bytes, the input an adapter is served. A medium that cannot give a row (gone, altered since
the snapshot, not decodable, no face, too little speech) is skipped and counted by reason: a few
bad samples must not sink a job, and the job's metrics say how many there were.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.biometrics.face import FaceEngine
from core.biometrics.types import AnalysedSample, SampleStatus
from core.biometrics.voice import VoiceEngine
from core.objectstore import IntegrityError, ObjectMissing, ObjectStore
from schemas.model_catalog import Modality, embedder_for
from trainer.dataset import Snapshot, SnapshotItem
from trainer.features import FeatureSet

Analyse = Callable[[bytes], AnalysedSample]
FractionProgress = Callable[[float], Awaitable[None]]

# The skip reasons a job's metrics report (as ``skipped_{reason}``).
STATUS_REASONS = {
    SampleStatus.INVALID_MEDIA: "corrupt",
    SampleStatus.NO_FACE: "no_face",
    SampleStatus.NO_SPEECH: "no_speech",
}
MISSING = "missing"
UNLABELLED = "unlabelled"
CHECKSUM = "checksum_mismatch"
# Media fetched and analysed at once: one analyses while the next downloads (the engines
# serialise their model calls anyway).
IN_FLIGHT = 2
REPORT_STEP = 0.01


class Engines:
    """The engines of each modality, loaded on first use and kept (loading costs seconds)."""

    def __init__(self, models_dir: Path | None = None) -> None:
        self._models_dir = models_dir
        self._face: FaceEngine | None = None
        self._voice: VoiceEngine | None = None

    def analyser(self, modality: Modality) -> Analyse:
        if modality is Modality.FACE:
            self._face = self._face or FaceEngine(self._models_dir)
            return self._face.analyse
        self._voice = self._voice or VoiceEngine(self._models_dir)
        return self._voice.analyse


@dataclass(frozen=True)
class Extraction:
    features: FeatureSet
    skipped: dict[str, int]  # reason -> media skipped

    def counts(self) -> dict[str, int]:
        """For the job's metrics and lineage: ``samples_used`` and ``skipped_{reason}``."""
        return {"samples_used": len(self.features)} | {
            f"skipped_{reason}": n for reason, n in sorted(self.skipped.items())
        }


async def extract(
    objects: ObjectStore,
    snapshot: Snapshot,
    analyse: Analyse,
    progress: FractionProgress | None = None,
) -> Extraction:
    """The base features of every usable item of ``snapshot``, in the snapshot's order."""
    width = embedder_for(snapshot.modality).width
    slots = asyncio.Semaphore(IN_FLIGHT)
    done = 0
    reported = 0.0
    total = len(snapshot.items)

    async def one(item: SnapshotItem) -> NDArray[np.float32] | str:
        nonlocal done, reported
        async with slots:
            outcome = await _row(objects, item, analyse)
        done += 1
        # Every percent, not every item: a report may be a database write and an event.
        if progress is not None and (done == total or done / total - reported >= REPORT_STEP):
            reported = done / total
            await progress(reported)
        return outcome

    outcomes = await asyncio.gather(*(one(item) for item in snapshot.items))
    kept = [
        (item, o)
        for item, o in zip(snapshot.items, outcomes, strict=True)
        if not isinstance(o, str)
    ]
    skipped = Counter(o for o in outcomes if isinstance(o, str))
    vectors = (
        np.stack([v for _, v in kept]).astype(np.float32)
        if kept
        else np.zeros((0, width), dtype=np.float32)
    )
    features = FeatureSet(
        vectors=vectors,
        user_ids=tuple(str(item.user_id) for item, _ in kept),
        conditions=tuple(item.condition for item, _ in kept),
        sample_ids=tuple(f"{item.bucket}/{item.key}" for item, _ in kept),
    )
    return Extraction(features=features, skipped=dict(sorted(skipped.items())))


async def _row(
    objects: ObjectStore, item: SnapshotItem, analyse: Analyse
) -> NDArray[np.float32] | str:
    """The item's base embedding, or the reason it has none."""
    if item.user_id is None:
        return UNLABELLED
    uri = f"s3://{objects.bucket(item.bucket)}/{item.key}"
    try:
        data = await objects.get_bytes(uri, expected_sha256=item.sha256)
    except ObjectMissing:
        return MISSING
    except IntegrityError:
        return CHECKSUM
    sample = await asyncio.to_thread(analyse, data)
    if sample.status is not SampleStatus.OK or sample.base_embedding is None:
        return STATUS_REASONS.get(sample.status, sample.status.value)
    return np.asarray(sample.base_embedding, dtype=np.float32).reshape(-1)
