"""The face pipeline: bytes → checked, downscaled image → main face → aligned chip → embedding.

``FaceEngine.analyse`` never raises for bad input: unusable bytes give
``SampleStatus.INVALID_MEDIA`` and a photo without a face ``SampleStatus.NO_FACE``, each with a
short reason. Missing weights are an operator error and raise ``MissingModelError`` (naming
``kibalock models fetch``) when the engine is built.

Stages (see the modules for the why): :mod:`core.biometrics.image` decodes to a working copy of
at most 1024 px; :mod:`core.biometrics.face_detect` finds faces (dlib HOG, then dlib's MMOD CNN
only if HOG finds none; any :class:`FaceDetector` can be passed) and picks the subject (the
sample says how many faces were found and why this one); :mod:`core.biometrics.face_embed`
aligns it on 5 landmarks and runs DeepFace's ``Dlib`` ResNet through dlib on the chip and its
mirror image, averaging the two;
:mod:`core.biometrics.face_quality` scores it. The embedding is the base model's; a registry
adapter (:class:`core.registry.LoadedModel`) maps it to a newer version where one is active.

DeepFace itself is not used. Its ``Dlib`` model is a thin wrapper over the same dlib call (for a
given face chip both give the same single-view vector, max difference 1e-8), while deepface
0.0.103 without TensorFlow (``DEEPFACE_BACKEND_ENGINE=onnx``) still needs werkzeug, gdown,
beautifulsoup4 and soupsieve just to import. Measured on the 61 shared photos, same machine and
load: cold process to first embedding 3.9 s (DeepFace, Dlib + opencv) vs 1.5 s here; per photo
720 ms median / 3.0 s p95 vs 165 / 290 ms (one view; the mirror view adds one ResNet pass); EER
4.4 % vs 0.06 % (the gap is DeepFace's alignment, see :mod:`core.biometrics.face_embed`); no
detection failure either way.

Thread safety: dlib's detector, landmark model and network are not safe to call concurrently,
so one engine serialises those stages with a lock; decoding and quality run outside it. To use
more cores, give each worker its own ``FaceEngine`` (they share nothing).
"""

from __future__ import annotations

import threading
from pathlib import Path

from pydantic import Field

from core.biometrics import model_files
from core.biometrics.face_detect import (
    FaceBox,
    FaceDetector,
    FallbackDetector,
    HogFaceDetector,
    MmodFaceDetector,
    SubjectRule,
    pick_subject,
)
from core.biometrics.face_embed import DlibFaceEmbedder
from core.biometrics.face_models import face_model_paths, fetch_models
from core.biometrics.face_quality import NO_FACE_QUALITY, TIGHT_SIZE, face_quality
from core.biometrics.image import ImageLimits, InvalidImage, decode_image
from core.biometrics.stopwatch import Stopwatch
from core.biometrics.types import AnalysedSample, SampleStatus
from schemas.model_catalog import BASE_VERSION, FACE_EMBEDDER, model_spec

__all__ = ["FaceBox", "FaceDetector", "FaceEngine", "FaceSample", "ImageLimits", "fetch_models"]

# The packaged DeepFace Dlib ResNet (dlib_face_recognition_resnet_model_v1) with dlib 5-point
# alignment, mirror-averaged, is version BASE_VERSION of the catalog's face embedder.
SPEC = model_spec(FACE_EMBEDDER)


class FaceSample(AnalysedSample):
    """The outcome of one photo; ``face_box`` is in the uploaded image's pixels (after EXIF
    rotation)."""

    model: str = SPEC.name
    version: str = BASE_VERSION
    preprocessing: str = SPEC.preprocessing
    face_box: FaceBox | None = None
    faces_found: int = Field(default=0, ge=0, description="faces the detector found")
    subject_rule: SubjectRule | None = Field(
        default=None, description="why face_box was taken as the subject among faces_found"
    )


class FaceEngine:
    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        detector: FaceDetector | None = None,
        limits: ImageLimits | None = None,
    ) -> None:
        paths = face_model_paths(models_dir if models_dir is not None else model_files.models_dir())
        self._embedder = DlibFaceEmbedder(paths.embedder, paths.landmarks, TIGHT_SIZE)
        self._detector: FaceDetector = detector or FallbackDetector(
            HogFaceDetector(), MmodFaceDetector(paths.detector)
        )
        self.limits = limits or ImageLimits()
        self._dlib_lock = threading.Lock()

    def analyse(self, data: bytes) -> FaceSample:
        watch = Stopwatch()
        try:
            image = decode_image(data, self.limits)
        except InvalidImage as exc:
            watch.lap("decode")
            return FaceSample(
                status=SampleStatus.INVALID_MEDIA, reason=exc.reason, timing_ms=watch.timings()
            )
        watch.lap("decode")

        rgb = image.rgb
        with self._dlib_lock:
            subject = pick_subject(self._detector.detect(rgb), rgb.shape[1], rgb.shape[0])
            watch.lap("detect")
            if subject is None:
                return FaceSample(
                    status=SampleStatus.NO_FACE,
                    reason="no_face",
                    quality=NO_FACE_QUALITY,
                    timing_ms=watch.timings(),
                )
            box = subject.box
            aligned = self._embedder.align(rgb, box)
            base = self._embedder.embed(aligned.chip)
        watch.lap("embed")

        source_box = box.scaled(1.0 / image.scale)
        quality = face_quality(
            aligned.tight, min(source_box.width, source_box.height), image.jpeg_quality
        )
        watch.lap("quality")
        return FaceSample(
            status=SampleStatus.OK,
            embedding=base,
            base_embedding=base,
            quality=quality,
            timing_ms=watch.timings(),
            face_box=source_box,
            faces_found=subject.faces_found,
            subject_rule=subject.rule,
        )
