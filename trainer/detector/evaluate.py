"""Detection figures on held-back images: recall, precision at IoU 0.5, failure to acquire.

A found box is a true detection when it overlaps an unmatched labelled face by IoU >= 0.5
(greedy, most confident first, as in VOC/COCO matching); any other found box is a false
detection. The failure-to-acquire rate is the share of images with a labelled face in which the
detector found no face at all: that is what makes a login photo ``no_face``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from core.biometrics.face_detect import FaceBox, FaceDetector
from trainer.detector.dataset import LabelledImage

IOU_MATCH = 0.5


def iou(a: FaceBox, b: FaceBox) -> float:
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a.width * a.height + b.width * b.height - inter)


def true_detections(found: Sequence[FaceBox], labelled: Sequence[FaceBox]) -> int:
    """How many of ``found`` match a distinct labelled face at IoU >= :data:`IOU_MATCH`."""
    free = list(labelled)
    matched = 0
    for box in sorted(found, key=lambda b: -b.score):
        best = max(free, key=lambda t: iou(box, t), default=None)
        if best is not None and iou(box, best) >= IOU_MATCH:
            free.remove(best)
            matched += 1
    return matched


@dataclass(frozen=True)
class DetectionScores:
    images: int
    faces: int  # labelled faces
    found: int  # boxes the detector returned
    matched: int  # found boxes that match a labelled face
    missed_images: int  # images with a labelled face where nothing was found
    images_with_faces: int
    seconds: float  # wall time of the detector over all images

    @property
    def recall(self) -> float:
        return self.matched / self.faces if self.faces else 0.0

    @property
    def precision(self) -> float:
        # A detector that finds nothing has no correct detection to its credit: 0, not 1.
        return self.matched / self.found if self.found else 0.0

    @property
    def failure_to_acquire(self) -> float:
        return self.missed_images / self.images_with_faces if self.images_with_faces else 0.0

    def metrics(self, prefix: str) -> dict[str, float]:
        """Figures under lowercase codes, e.g. ``challenger_recall``."""
        return {
            f"{prefix}_recall": self.recall,
            f"{prefix}_precision": self.precision,
            f"{prefix}_fta": self.failure_to_acquire,
            f"{prefix}_ms_per_image": 1000 * self.seconds / self.images if self.images else 0.0,
        }


def score_detector(detector: FaceDetector, images: Sequence[LabelledImage]) -> DetectionScores:
    found = matched = missed = with_faces = 0
    seconds = 0.0
    for image in images:
        start = time.perf_counter()
        boxes = detector.detect(image.rgb)
        seconds += time.perf_counter() - start
        found += len(boxes)
        matched += true_detections(boxes, image.faces)
        if image.faces:
            with_faces += 1
            missed += not boxes
    return DetectionScores(
        images=len(images),
        faces=sum(len(i.faces) for i in images),
        found=found,
        matched=matched,
        missed_images=missed,
        images_with_faces=with_faces,
        seconds=seconds,
    )


def beats(challenger: DetectionScores, champion: DetectionScores) -> bool:
    """Promote only a detector that is not worse on recall, precision or failure to acquire,
    and better on at least one of them."""
    not_worse = (
        challenger.recall >= champion.recall
        and challenger.precision >= champion.precision
        and challenger.failure_to_acquire <= champion.failure_to_acquire
    )
    better = (
        challenger.recall > champion.recall
        or challenger.precision > champion.precision
        or challenger.failure_to_acquire < champion.failure_to_acquire
    )
    return not_worse and better
