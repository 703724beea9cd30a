"""The Trainer for ``face-detector``: YOLO auto-labelled by the default detector.

The original note's automatic annotation: the default detector (dlib HOG, MMOD where HOG finds
nothing; ``core.biometrics.face_detect``) labels the job's images, a YOLO model is trained on
them (from ``yolov8n.yaml``, or from the local ``.pt`` in ``trainer.detector_weights``),
exported to ONNX and checked against torch, and the exported graph is compared with the default
detector on held-back images.

The comparison is against the default detector's own labels, so the default scores recall 1,
precision 1 and no failure to acquire by construction: a challenger can at best tie, and a few
CPU epochs from scratch come nowhere near. Such a job ends ``succeeded-not-promoted`` with both
sides' figures; promotion needs better weights to start from (an operator's ``.pt``) and
labels that are not the champion's.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from core.biometrics.face_detect import (
    FaceDetector,
    FallbackDetector,
    HogFaceDetector,
    MmodFaceDetector,
)
from core.biometrics.face_models import face_model_paths
from core.biometrics.image import InvalidImage, decode_image, shrink_to
from core.settings import Settings
from schemas.enums import JobStage
from trainer.detector.dataset import LabelledImage, Part, assign_parts, write_dataset
from trainer.detector.evaluate import DetectionScores, beats, score_detector
from trainer.detector.offline import load_ultralytics
from trainer.detector.onnx_detector import OnnxFaceDetector
from trainer.detector.yolo_run import EpochReport, check_parity, export_onnx, train
from trainer.pipeline import JobContext, JobFailed, Outcome, Progress

# Fewer images with a face than this cannot fill a training, a validation and a held-back part.
MIN_FACE_IMAGES = 8
# Images are kept at most this long (the default detector runs at 640 px anyway): a job holds
# every image in memory while it labels and evaluates.
KEEP_SIDE = 640

ImageId = str
RgbImage = NDArray[np.uint8]


class ImageLoader(Protocol):
    """The job's images, e.g. from the data snapshot: ``(image_id, rgb)`` pairs, RGB uint8."""

    async def __call__(
        self, request: JobContext, progress: Progress, /
    ) -> list[tuple[ImageId, RgbImage]]: ...


def default_detector(models_dir: Path) -> FaceDetector:
    """The gateways' detector (see ``FaceEngine``): the champion and the labeller."""
    return FallbackDetector(
        HogFaceDetector(), MmodFaceDetector(face_model_paths(models_dir).detector)
    )


def _read(source: Path | RgbImage) -> tuple[ImageId, RgbImage]:
    """An image and its id: the sha256 of the file's bytes or of the array's pixels, so the
    split does not depend on where the files are."""
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
            rgb = decode_image(data).rgb
        except (OSError, InvalidImage) as exc:
            raise JobFailed("corrupt_sample", f"{source.name}: {exc}") from exc
        return f"sha256:{hashlib.sha256(data).hexdigest()[:32]}", _kept(rgb)
    rgb = np.ascontiguousarray(source, dtype=np.uint8)
    return f"sha256:{hashlib.sha256(rgb.tobytes()).hexdigest()[:32]}", _kept(rgb)


def _kept(rgb: RgbImage) -> RgbImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise JobFailed("corrupt_sample", f"an image of shape {rgb.shape} is not RGB")
    return shrink_to(rgb, KEEP_SIDE)[0]


def snapshot_digest(images: Sequence[tuple[ImageId, RgbImage]]) -> str:
    """sha256 over the ids and pixels, in id order: the same images give the same digest."""
    digest = hashlib.sha256()
    for image_id, rgb in sorted(images, key=lambda item: item[0]):
        digest.update(image_id.encode())
        digest.update(hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).digest())
    return digest.hexdigest()


class DetectorTrainer:
    """Trains ``face-detector`` versions (the ``yolo`` extra must be installed).

    ``images`` (paths or RGB arrays) or ``load`` (an :class:`ImageLoader`) give the job's
    images; ``labeller`` is the default detector unless a test passes another.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        images: Sequence[Path | RgbImage] = (),
        load: ImageLoader | None = None,
        labeller: FaceDetector | None = None,
    ) -> None:
        self._settings = settings
        self._images = list(images)
        self._load = load
        self._labeller = labeller

    async def train(self, request: JobContext, progress: Progress) -> Outcome:
        section = self._settings.trainer
        weights = section.detector_weights
        # Before any work: a missing file would make ultralytics look for it online.
        if weights is not None and not weights.is_file():
            raise JobFailed("weights_missing", f"trainer.detector_weights: no file {weights}")
        ultralytics = load_ultralytics(self._settings.cache_dir / "ultralytics")
        await progress(JobStage.SNAPSHOT, 0.0, "loading images")
        loaded = await self._loaded(request, progress)
        digest = snapshot_digest(loaded)

        await progress(JobStage.FEATURES, 0.05, f"labelling {len(loaded)} images")
        labelled = await asyncio.to_thread(self._label, loaded)
        parts = assign_parts(
            [i.image_id for i in labelled], section.detector_holdout, section.detector_validation
        )
        by_part = {p: [i for i in labelled if parts[i.image_id] is p] for p in Part}
        _check_enough(labelled, by_part)
        held = by_part[Part.HELD_BACK]

        with tempfile.TemporaryDirectory(prefix="kibalock-detector-") as tmp:
            root = Path(tmp)
            data_yaml = await asyncio.to_thread(write_dataset, root / "data", labelled, parts)
            await progress(JobStage.TRAINING, 0.1, "training")
            trained = await asyncio.to_thread(
                train,
                ultralytics,
                data_yaml,
                root / "runs",
                weights=weights,
                epochs=section.detector_epochs,
                image_size=section.detector_image_size,
                on_epoch=_epoch_reporter(progress, asyncio.get_running_loop()),
            )
            await progress(JobStage.EXPORT, 0.75, "ONNX export and parity check")
            onnx = await asyncio.to_thread(
                export_onnx, ultralytics, trained.weights, section.detector_image_size
            )
            try:
                parity = await asyncio.to_thread(
                    check_parity, ultralytics, trained.weights, onnx, [i.rgb for i in held]
                )
            except ValueError as exc:
                raise JobFailed("parity_failed", str(exc)) from exc

        await progress(JobStage.EVALUATION, 0.85, "challenger against the default detector")
        champion = await asyncio.to_thread(score_detector, self._default(), held)
        challenger = await asyncio.to_thread(score_detector, OnnxFaceDetector(onnx), held)
        promote = beats(challenger, champion)
        metrics = {
            **champion.metrics("champion"),
            **challenger.metrics("challenger"),
            "images_train": float(len(by_part[Part.TRAIN])),
            "images_validation": float(len(by_part[Part.VALIDATION])),
            "images_held_back": float(len(held)),
            "negatives": float(sum(not i.faces for i in labelled)),
            "faces_labelled": float(sum(len(i.faces) for i in labelled)),
            "epochs": float(trained.epochs),
            "image_size": float(section.detector_image_size),
            "val_map50": trained.validation.get("metrics/mAP50(B)", 0.0),
            "parity_max_abs_diff": parity.max_abs_diff,
        }
        return Outcome(
            onnx=onnx,
            operating_point=None,
            promote=promote,
            summary=_summary(challenger, champion, len(held), promote),
            metrics=metrics,
            parity=parity,
            snapshot_digest=digest,
        )

    async def _loaded(
        self, request: JobContext, progress: Progress
    ) -> list[tuple[ImageId, RgbImage]]:
        loaded = await asyncio.to_thread(lambda: [_read(s) for s in self._images])
        if self._load is not None:
            loaded += [(i, _kept(rgb)) for i, rgb in await self._load(request, progress)]
        # An image given twice is kept once: its copies could land in training and held back.
        unique: dict[ImageId, RgbImage] = {}
        for image_id, rgb in loaded:
            unique.setdefault(image_id, rgb)
        return list(unique.items())

    def _default(self) -> FaceDetector:
        if self._labeller is None:
            self._labeller = default_detector(self._settings.model_files_dir)
        return self._labeller

    def _label(self, images: Sequence[tuple[ImageId, RgbImage]]) -> list[LabelledImage]:
        detector = self._default()
        return [LabelledImage(i, rgb, detector.detect(rgb)) for i, rgb in images]


def _epoch_reporter(progress: Progress, loop: asyncio.AbstractEventLoop) -> EpochReport:
    """Reports each epoch from ultralytics' training thread on the job's event loop.

    It waits for the report, so progress stays in order, and an exception the service raises
    from ``progress`` (the job was taken away) stops the training there.
    """

    def report(epoch: int, epochs: int, figures: dict[str, float]) -> None:
        map50 = figures.get("metrics/mAP50(B)")
        detail = f", validation mAP50 {map50:.3f}" if map50 is not None else ""
        coroutine = progress(
            JobStage.TRAINING, 0.1 + 0.6 * epoch / epochs, f"epoch {epoch}/{epochs}{detail}"
        )
        asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    return report


def _check_enough(
    labelled: Sequence[LabelledImage], by_part: dict[Part, list[LabelledImage]]
) -> None:
    with_faces = sum(bool(i.faces) for i in labelled)
    if with_faces < MIN_FACE_IMAGES:
        raise JobFailed(
            "too_little_data",
            f"the default detector found faces in {with_faces} of {len(labelled)} images; "
            f"a detector job needs {MIN_FACE_IMAGES}",
        )
    for part, images in by_part.items():
        if not any(i.faces for i in images):
            raise JobFailed("too_little_data", f"no labelled face in the {part.value} part")


def _summary(
    challenger: DetectionScores, champion: DetectionScores, held: int, promote: bool
) -> str:
    def figures(s: DetectionScores) -> str:
        return f"recall {s.recall:.2f}, precision {s.precision:.2f}, FTA {s.failure_to_acquire:.2f}"

    verdict = "promoted" if promote else "not promoted"
    return (
        f"YOLO {figures(challenger)} vs default detector {figures(champion)} on {held} "
        f"held-back images (labels by the default detector): {verdict}"
    )
