"""The face detector's training images: the face media of the job's data snapshot, decoded.

The same snapshot (and lineage record) as the embedders' jobs: curated samples, imports and
enrolment photos, each read back with its sha256 checked. An object that is gone, altered or
not an image is skipped and counted, never a crash.
"""

from __future__ import annotations

from collections import Counter

from core.biometrics.image import InvalidImage, decode_image
from core.logging import get_logger
from core.objectstore import ObjectStoreError
from schemas.enums import JobStage
from trainer.dataset import save, take_snapshot
from trainer.detector.trainer import DetectorTrainer, ImageId, RgbImage
from trainer.pipeline import JobContext, Progress
from trainer.registry_of_trainers import TrainerDeps

log = get_logger(__name__)


class SnapshotImages:
    """An :class:`~trainer.detector.trainer.ImageLoader` over the job's data snapshot."""

    def __init__(self, deps: TrainerDeps) -> None:
        self._deps = deps

    async def __call__(
        self, request: JobContext, progress: Progress, /
    ) -> list[tuple[ImageId, RgbImage]]:
        deps, job = self._deps, request.job
        snapshot = await take_snapshot(
            deps.db,
            job.request.model,
            max_per_user=deps.settings.trainer.max_samples_per_user,
            source=job.request.source,
        )
        await save(deps.db, snapshot, job_id=job.job_id)
        images: list[tuple[ImageId, RgbImage]] = []
        skipped: Counter[str] = Counter()
        for n, item in enumerate(snapshot.items):
            uri = f"s3://{deps.objects.bucket(item.bucket)}/{item.key}"
            try:
                data = await deps.objects.get_bytes(uri, item.sha256)
                images.append((item.sha256, decode_image(data).rgb))
            except ObjectStoreError as exc:
                skipped[exc.reason] += 1
            except InvalidImage as exc:
                skipped[exc.reason] += 1
            if n % 20 == 0:
                await progress(JobStage.SNAPSHOT, 0.04 * n / max(len(snapshot.items), 1))
        if skipped:
            log.warning("snapshot images skipped", job_id=job.job_id, skipped=dict(skipped))
        return images


def face_detector_trainer(deps: TrainerDeps) -> DetectorTrainer:
    """The ``face-detector`` trainer of the job service (see ``TRAINERS``)."""
    return DetectorTrainer(deps.settings, load=SnapshotImages(deps))
