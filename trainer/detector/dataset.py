"""Auto-labelled images as a YOLO dataset: the split, the label lines and the folder layout.

Pure file writing, no ultralytics. The split is by image and deterministic: the sha256 of an
image's id decides its part, so an image lands in the same part whatever order the loader gives
them in and whatever other images a job has. An image in which the default
detector found no face is kept as a *negative* (an empty label file): YOLO learns background
from it, and in the held-back part a face found there counts as a false detection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

from core.biometrics.face_detect import FaceBox

FACE_CLASS = 0
CLASS_NAMES = {FACE_CLASS: "face"}


class Part(StrEnum):
    TRAIN = "train"
    VALIDATION = "val"  # what ultralytics validates on while it trains
    HELD_BACK = "held_back"  # never seen in training: parity check and champion / challenger


@dataclass(frozen=True)
class LabelledImage:
    image_id: str
    rgb: NDArray[np.uint8]
    faces: list[FaceBox]  # what the default detector found (empty: a negative)


def assign_parts(image_ids: Sequence[str], holdout: float, validation: float) -> dict[str, Part]:
    """Each id's part, by where the sha256 of the id falls in [0, 1): below ``holdout`` it is
    held back, below ``holdout + validation`` it validates, otherwise it trains.

    The shares are met on average, not exactly; in exchange an image keeps its part in every
    job, whatever else the data holds, so an image once held back never trains a later version.
    """
    return {image_id: _part(_unit_hash(image_id), holdout, validation) for image_id in image_ids}


def _unit_hash(image_id: str) -> float:
    return int(hashlib.sha256(image_id.encode()).hexdigest()[:15], 16) / 16**15


def _part(position: float, holdout: float, validation: float) -> Part:
    if position < holdout:
        return Part.HELD_BACK
    if position < holdout + validation:
        return Part.VALIDATION
    return Part.TRAIN


def label_lines(faces: Sequence[FaceBox], width: int, height: int) -> list[str]:
    """YOLO's ``class cx cy w h`` lines, normalised to the image and clipped inside it."""
    lines = []
    for box in faces:
        left, right = max(0, box.left), min(width, box.right)
        top, bottom = max(0, box.top), min(height, box.bottom)
        if right <= left or bottom <= top:
            continue
        cx, cy = (left + right) / 2 / width, (top + bottom) / 2 / height
        w, h = (right - left) / width, (bottom - top) / height
        lines.append(f"{FACE_CLASS} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def file_stem(image_id: str) -> str:
    """A file name for any id (ids may hold slashes or colons)."""
    return hashlib.sha256(image_id.encode()).hexdigest()[:20]


def write_dataset(root: Path, images: Sequence[LabelledImage], parts: dict[str, Part]) -> Path:
    """Writes ``images/{part}/*.png`` and ``labels/{part}/*.txt`` under ``root``; returns the
    dataset's yaml. Held-back images are not written: only the trainer's evaluation sees them."""
    for image in images:
        part = parts[image.image_id]
        if part is Part.HELD_BACK:
            continue
        stem = file_stem(image.image_id)
        image_dir, label_dir = root / "images" / part.value, root / "labels" / part.value
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(
            str(image_dir / f"{stem}.png"), cv2.cvtColor(image.rgb, cv2.COLOR_RGB2BGR)
        ):
            raise OSError(f"cannot write {image_dir / stem}.png")
        height, width = image.rgb.shape[:2]
        lines = label_lines(image.faces, width, height)
        (label_dir / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))
    spec = {
        "path": str(root),
        "train": f"images/{Part.TRAIN.value}",
        "val": f"images/{Part.VALIDATION.value}",
        "names": CLASS_NAMES,
    }
    data_yaml = root / "faces.yaml"
    data_yaml.write_text(yaml.safe_dump(spec, sort_keys=False))
    return data_yaml
