"""Face sample quality in [0, 1].

Measured on the *tight chip*: the face aligned by its 5 landmarks (like the embedder's chip, but
without padding, so no background) and rendered at ``TIGHT_SIZE`` = 200 px, converted to grey
in [0, 1]. Rendering every face at one size makes sharpness comparable across photos, and
faces smaller than 200 px are upsampled into it, so a low-resolution face reads as blurred.

Components (each in [0, 1]):

- ``face``: 1 when a face was found (no face: the score is 0 and no other component exists).
- ``size``: ``min(1, s / 200)``, ``s`` = shorter side of the face box in *source* pixels: below
  200 px the chip has to invent detail.
- ``sharpness``: ``1 - exp(-r / 0.04)``, ``r = var(Laplacian(chip)) / var(chip)``. Dividing by
  the chip's variance makes it independent of contrast (exposure measures that); 0.04 is about
  half the median ``r`` of the 61 shared photos, so their median face scores ~0.85, and the same
  faces blurred by a Gaussian of sigma = 1/500 of the image side score 0.04-0.28 (median 0.13).
- ``exposure``: ``brightness * contrast`` with ``brightness = clip(1 - max(0, |m - 0.5| - 0.15)
  / 0.3)`` (``m``: mean grey; flat over [0.35, 0.65], 0 at black or white) and ``contrast =
  min(1, sd / 0.12)`` (``sd``: grey standard deviation; 0.12 is the flattest clean photo).
- ``compression``: ``min(1, q / 50)``, ``q`` = the JPEG quality estimated from the file's
  quantisation table (1 for lossless formats). At large face sizes JPEG blocks are finer than
  the chip's pixels and Laplacian sharpness cannot see them, so they are measured at the source.

``score = face * size^0.25 * sharpness^0.35 * exposure^0.25 * compression^0.15``: a weighted
geometric mean, so one bad component pulls the score down however good the others are.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from core.biometrics.types import Quality

TIGHT_SIZE = 200
GOOD_FACE_PX = 200.0
SHARPNESS_SCALE = 0.04
CONTRAST_SD = 0.12
JPEG_GOOD_QUALITY = 50.0
WEIGHTS = {"size": 0.25, "sharpness": 0.35, "exposure": 0.25, "compression": 0.15}

NO_FACE_QUALITY = Quality(score=0.0, components={"face": 0.0})


def face_quality(
    tight_chip: NDArray[np.uint8], face_px: float, jpeg_quality: float | None
) -> Quality:
    """Quality of a found face; ``tight_chip`` is RGB uint8, ``face_px`` in source pixels."""
    grey = cv2.cvtColor(tight_chip, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    mean, sd = float(grey.mean()), float(grey.std())
    laplacian_var = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    ratio = laplacian_var / (sd * sd) if sd > 0.0 else 0.0
    brightness = 1.0 - max(0.0, abs(mean - 0.5) - 0.15) / 0.3
    components = {
        "size": min(1.0, face_px / GOOD_FACE_PX),
        "sharpness": 1.0 - math.exp(-ratio / SHARPNESS_SCALE),
        "exposure": _unit(brightness) * min(1.0, sd / CONTRAST_SD),
        "compression": 1.0 if jpeg_quality is None else min(1.0, jpeg_quality / JPEG_GOOD_QUALITY),
    }
    score = math.prod(_unit(components[k]) ** w for k, w in WEIGHTS.items())
    return Quality(
        score=_unit(score),
        components={"face": 1.0, **{k: round(_unit(v), 4) for k, v in components.items()}},
    )


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x))
