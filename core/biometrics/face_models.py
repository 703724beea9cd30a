"""The default face weights: where they come from (a PyPI package) and where the engine reads them.

Both files ship in ``face_recognition_models`` (dlib's own releases):

- ``dlib_face_recognition_resnet_model_v1.dat``: the ResNet behind DeepFace's ``Dlib`` model
  (DeepFace downloads this very file from dlib.net); 128-d output.
- ``shape_predictor_5_face_landmarks.dat``: the 5-point landmark model dlib's face chip
  alignment is defined with (and that the ResNet was trained on).
- ``mmod_human_face_detector.dat``: dlib's MMOD CNN face detector, the fallback for photos
  where the HOG frontal detector (compiled into dlib, no file) finds no face.

The package's ``__init__`` imports ``pkg_resources``, which current setuptools no longer ships,
so the files are located through the import system without executing the package.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.biometrics.model_files import MissingModelError, file_sha256, install_file, require

FACE_SUBDIR = "face"
EMBEDDER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DETECTOR_FILE = "mmod_human_face_detector.dat"
_SOURCE_PACKAGE = "face_recognition_models"


@dataclass(frozen=True)
class FaceModelPaths:
    embedder: Path
    landmarks: Path
    detector: Path


def face_model_paths(models_dir: Path) -> FaceModelPaths:
    """The face weight paths; raises MissingModelError if one is absent."""
    base = models_dir / FACE_SUBDIR
    return FaceModelPaths(
        embedder=require(base / EMBEDDER_FILE, "face embedder weights (dlib ResNet)"),
        landmarks=require(base / LANDMARKS_FILE, "face landmark weights (dlib 5-point)"),
        detector=require(base / DETECTOR_FILE, "face detector weights (dlib MMOD)"),
    )


def fetch_models(models_dir: Path) -> list[Path]:
    """Copy the default face weights from their package into ``models_dir``; returns their paths.

    Idempotent: a file already present with the same size and sha256 is left alone.
    """
    source = _package_models_dir()
    target = models_dir / FACE_SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    fetched = []
    for name in (EMBEDDER_FILE, LANDMARKS_FILE, DETECTOR_FILE):
        src = require(source / name, f"{name} in the {_SOURCE_PACKAGE} package")
        dst = target / name
        if not _same_file(src, dst):
            install_file([src], dst)
        fetched.append(dst)
    return fetched


def _package_models_dir() -> Path:
    spec = importlib.util.find_spec(_SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(
            f"the {_SOURCE_PACKAGE} package (pip install face-recognition-models)",
            Path(_SOURCE_PACKAGE),
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _same_file(src: Path, dst: Path) -> bool:
    return (
        dst.is_file()
        and dst.stat().st_size == src.stat().st_size
        and file_sha256(dst) == file_sha256(src)
    )
