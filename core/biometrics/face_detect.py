"""Face detection: the pluggable ``FaceDetector`` protocol, dlib's detectors, and the subject rule.

The default is dlib's HOG + linear SVM frontal detector (compiled into dlib, no weight file),
with dlib's MMOD CNN as a fallback that runs only when HOG finds nothing; the 5-point landmark
model was trained on the boxes of both, so either gives the same aligned chip (same photo, HOG
box vs MMOD box: embedding cosine 0.9997). Measured on the 61 shared photos (whole pipeline, 640
px detection copy): HOG 132 ms median, no miss, 0.06 % EER; OpenCV's Haar cascade (DeepFace's
``opencv`` backend) 170 ms, no miss, 0.09 %; MMOD alone 1050 ms (at 480 px), one miss. On the
1,636 in-the-wild photos of data-large, HOG (with its upsampled retry) misses 51 (3.1 %), mostly
small faces in full-body shots, turned or tilted heads; MMOD finds 46 of them, leaving 5 (0.3 %).
The fallback costs ~1.2 s of CPU per photo it runs on (see ``MMOD_SIDE``) against ~0.02 s for a
HOG pass (the whole HOG-path analysis is ~0.11 s), so only photos that would otherwise be
refused pay it.

A photo may show several people: :func:`pick_subject` takes the largest, most central face and
says so (``SubjectRule``), so a decision log shows when a bystander was in the picture.

A LifeModo detector (YOLO exported to ONNX) plugs in by implementing :class:`FaceDetector` and
being passed to ``FaceEngine(detector=...)``.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import dlib
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from core.biometrics.image import fit_to, shrink_to

# Longest side MMOD runs at. Small photos are enlarged to it too: MMOD's window is ~80 px, so a
# face filling a 130 px photo is found only once enlarged. Of the 51 data-large photos HOG misses,
# MMOD finds 41 at 384 px (0.6 s CPU median), 46 at 512 px (1.2 s), 47 at 640 px: 512 keeps the
# failure to acquire at 0.3 % (95 % upper bound 0.7 %) for half the cost of 640.
MMOD_SIDE = 512


class FaceBox(BaseModel):
    """A face rectangle in pixels (right/bottom exclusive) with the detector's confidence."""

    model_config = ConfigDict(frozen=True)

    left: int
    top: int
    right: int
    bottom: int
    score: float = 1.0
    detector: str = Field(default="", description="the detector (and pass) that found it")

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def scaled(self, factor: float) -> FaceBox:
        return FaceBox(
            left=round(self.left * factor),
            top=round(self.top * factor),
            right=round(self.right * factor),
            bottom=round(self.bottom * factor),
            score=self.score,
            detector=self.detector,
        )


class FaceDetector(Protocol):
    """Finds faces in an RGB uint8 image; boxes are in that image's pixel coordinates.

    The engine never calls one detector instance from two threads at once, so implementations
    need not be thread-safe.
    """

    @property
    def name(self) -> str: ...

    def detect(self, rgb: NDArray[np.uint8]) -> list[FaceBox]: ...


class HogFaceDetector:
    """dlib's HOG frontal face detector on a copy reduced to ``max_side`` pixels.

    HOG scans 80 px windows, so at 640 px it finds faces down to 1/8 of the image side; when it
    finds nothing it retries once on a 2x upsampled pyramid (faces down to 1/16 of the side),
    which costs time only on photos that would otherwise be rejected.
    """

    name = "dlib-hog"

    def __init__(self, max_side: int = 640) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self._max_side = max_side

    def detect(self, rgb: NDArray[np.uint8]) -> list[FaceBox]:
        small, factor = shrink_to(rgb, self._max_side)
        for upsample in (0, 1):
            rects, scores, _ = self._detector.run(small, upsample, 0.0)
            if rects:
                break
        found_by = self.name if upsample == 0 else f"{self.name}-x2"
        return [
            _box(r, factor, rgb.shape, float(s), found_by)
            for r, s in zip(rects, scores, strict=True)
        ]


class MmodFaceDetector:
    """dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``) on a copy ``side`` px long.

    It finds faces HOG's frontal template misses (turned heads, tilted or partly hidden faces,
    hard light) and its boxes are ones the 5-point landmark model was also trained on, so the
    aligned chip is defined the same way. It is several times slower than HOG on CPU, hence
    meant as :class:`FallbackDetector`'s second pass.
    """

    name = "dlib-mmod"

    def __init__(self, weights: Path, side: int = MMOD_SIDE) -> None:
        self._detector = dlib.cnn_face_detection_model_v1(str(weights))
        self._side = side

    def detect(self, rgb: NDArray[np.uint8]) -> list[FaceBox]:
        fitted, factor = fit_to(rgb, self._side)
        return [
            _box(d.rect, factor, rgb.shape, float(d.confidence), self.name)
            for d in self._detector(fitted, 0)
        ]


class FallbackDetector:
    """``primary``'s faces; ``fallback`` runs only on images where ``primary`` finds none.

    Photos the fast detector handles pay nothing for the slow one, which only turns a
    would-be ``no_face`` into a found face.
    """

    def __init__(self, primary: FaceDetector, fallback: FaceDetector) -> None:
        self._primary = primary
        self._fallback = fallback
        self.name = f"{primary.name}+{fallback.name}"

    def detect(self, rgb: NDArray[np.uint8]) -> list[FaceBox]:
        return self._primary.detect(rgb) or self._fallback.detect(rgb)


def _box(
    rect: dlib.rectangle,
    factor: float,
    shape: tuple[int, ...],
    score: float,
    detector: str,
) -> FaceBox:
    """A dlib rectangle on a copy scaled by ``factor``, back in the image's pixels, clipped."""
    height, width = shape[:2]
    return FaceBox(
        left=max(0, round(rect.left() / factor)),
        top=max(0, round(rect.top() / factor)),
        right=min(width, round((rect.right() + 1) / factor)),
        bottom=min(height, round((rect.bottom() + 1) / factor)),
        score=score,
        detector=detector,
    )


class SubjectRule(StrEnum):
    """Why a face was taken as the subject of the photo."""

    ONLY_FACE = "only_face"
    # Several faces: the largest, discounted by distance from the centre (see pick_subject).
    LARGEST_CENTRAL = "largest_central"


class Subject(BaseModel):
    model_config = ConfigDict(frozen=True)

    box: FaceBox
    faces_found: int = Field(ge=1)
    rule: SubjectRule


def pick_subject(boxes: list[FaceBox], width: int, height: int) -> Subject | None:
    """The face the user presents: the largest, discounted by its distance from the centre.

    Weighting area by (1 - d) (d: centre offset over half the diagonal) lets a clearly larger
    face in the corner still win, but picks the central face among similar-sized ones.
    """
    if not boxes:
        return None
    if len(boxes) == 1:
        return Subject(box=boxes[0], faces_found=1, rule=SubjectRule.ONLY_FACE)
    half_diagonal = math.hypot(width, height) / 2

    def weight(b: FaceBox) -> float:
        dx = (b.left + b.right) / 2 - width / 2
        dy = (b.top + b.bottom) / 2 - height / 2
        return b.width * b.height * (1.0 - math.hypot(dx, dy) / half_diagonal)

    return Subject(
        box=max(boxes, key=weight), faces_found=len(boxes), rule=SubjectRule.LARGEST_CENTRAL
    )
