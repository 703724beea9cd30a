"""Face pipeline on the real test photos, degraded and broken by the tests themselves."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from bench.support.onnx_build import linear_adapter, rotation
from core.biometrics.face import FaceEngine, FaceSample, ImageLimits, fetch_models
from core.biometrics.face_detect import (
    FaceBox,
    FallbackDetector,
    HogFaceDetector,
    SubjectRule,
    pick_subject,
)
from core.biometrics.face_embed import DlibFaceEmbedder, mirror_average
from core.biometrics.face_models import face_model_paths
from core.biometrics.face_quality import TIGHT_SIZE
from core.biometrics.model_files import FETCH_COMMAND, MissingModelError
from core.biometrics.types import SampleStatus
from core.registry import load_adapter
from tests.registry_kit import manifest_for


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models")
    fetch_models(path)
    return path


@pytest.fixture(scope="module")
def engine(models: Path) -> FaceEngine:
    return FaceEngine(models)


@pytest.fixture(scope="module")
def faces(data_dir: Path) -> Path:
    return data_dir / "faces"


@pytest.fixture(scope="module")
def identities(faces: Path) -> dict[str, list[str]]:
    by_identity: dict[str, list[str]] = {}
    with (faces / "identities.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            by_identity.setdefault(row["identity"], []).append(row["file"])
    return {k: sorted(v) for k, v in sorted(by_identity.items())}


def _read(path: Path) -> NDArray[np.uint8]:
    bgr = cv2.imread(str(path))
    assert bgr is not None, path
    return np.asarray(bgr, dtype=np.uint8)


def _jpeg(bgr: NDArray[np.uint8], quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def _ok(sample: FaceSample) -> FaceSample:
    assert sample.status is SampleStatus.OK, sample.reason
    return sample


def test_clean_photo_gives_a_unit_embedding(engine: FaceEngine, faces: Path) -> None:
    data = (faces / "img1.jpg").read_bytes()
    sample = _ok(engine.analyse(data))
    assert sample.embedding is not None and sample.base_embedding is not None
    assert sample.embedding.dtype == np.float32 and sample.embedding.shape == (128,)
    assert np.linalg.norm(sample.embedding) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(sample.embedding, sample.base_embedding)
    assert (sample.model, sample.version) == ("face-embedder", "1.0.0")
    assert {"decode", "detect", "embed", "total"} <= sample.timing_ms.keys()
    height, width = _read(faces / "img1.jpg").shape[:2]
    box = sample.face_box
    assert box is not None and 0 <= box.left < box.right <= width
    assert 0 <= box.top < box.bottom <= height
    assert 0.5 < sample.quality.score <= 1.0 and sample.quality.components["face"] == 1.0
    assert (sample.faces_found, sample.subject_rule) == (1, SubjectRule.ONLY_FACE)
    assert box.detector == "dlib-hog"


def _gif(_: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "gray").save(buf, format="GIF")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda _: b"", "empty"),
        (lambda _: b"user=alice\npassword=hunter2\n" * 10, "unsupported_format"),
        (lambda jpeg: jpeg[: len(jpeg) // 2], "truncated"),
        (lambda jpeg: jpeg + b"\0" * (10 * 1024 * 1024), "too_large"),
        (_gif, "unsupported_format"),
    ],
    ids=["empty", "text", "truncated-jpeg", "over-10MB", "gif"],
)
def test_bad_bytes_are_invalid_media(
    engine: FaceEngine, faces: Path, make: Callable[[bytes], bytes], reason: str
) -> None:
    sample = engine.analyse(make((faces / "img2.jpg").read_bytes()))
    assert sample.status is SampleStatus.INVALID_MEDIA
    assert sample.reason == reason
    assert sample.embedding is None and sample.quality.score == 0.0


def test_pixel_limit_is_checked_before_decoding(models: Path, faces: Path) -> None:
    small_limit = FaceEngine(models, limits=ImageLimits(max_pixels=100_000))
    sample = small_limit.analyse((faces / "img2.jpg").read_bytes())
    assert (sample.status, sample.reason) == (SampleStatus.INVALID_MEDIA, "too_many_pixels")


def test_a_lossless_decompression_bomb_is_refused_before_decoding(engine: FaceEngine) -> None:
    # Audit finding 8: a small PNG of 4000 x 4000 would decode in full (no draft mode for PNG).
    buf = io.BytesIO()
    Image.new("RGB", (4000, 4000)).save(buf, format="PNG")
    assert len(buf.getvalue()) < 200_000
    sample = engine.analyse(buf.getvalue())
    assert (sample.status, sample.reason) == (SampleStatus.INVALID_MEDIA, "too_many_pixels")


def test_exif_rotated_photo_is_turned_upright(engine: FaceEngine, faces: Path) -> None:
    upright = Image.open(faces / "img1.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buf = io.BytesIO()
    upright.rotate(90, expand=True).save(buf, format="JPEG", quality=95, exif=exif)
    sample = _ok(engine.analyse(buf.getvalue()))
    reference = _ok(engine.analyse((faces / "img1.jpg").read_bytes()))
    assert sample.embedding is not None and reference.embedding is not None
    assert float(sample.embedding @ reference.embedding) > 0.98


def test_photos_without_a_face(engine: FaceEngine, faces: Path) -> None:
    # A real photo with the face painted over by its surroundings' colour...
    bgr = _read(faces / "img1.jpg")
    box = _ok(engine.analyse(_jpeg(bgr))).face_box
    assert box is not None
    grow_x, grow_y = box.width // 2, box.height
    y0, y1 = max(0, box.top - grow_y), box.bottom + grow_y
    x0, x1 = max(0, box.left - grow_x), box.right + grow_x
    bgr[y0:y1, x0:x1] = bgr[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
    # ...and a synthetic scene: a gradient sky over a ground with a few shapes.
    scene = np.zeros((480, 640, 3), np.uint8)
    scene[:] = np.linspace(60, 220, 640, dtype=np.uint8)[None, :, None]
    scene[300:] = (40, 110, 60)
    cv2.circle(scene, (500, 100), 50, (80, 200, 250), -1)
    cv2.rectangle(scene, (100, 220), (260, 400), (50, 50, 140), -1)
    for image in (bgr, scene):
        sample = engine.analyse(_jpeg(image))
        assert (sample.status, sample.reason) == (SampleStatus.NO_FACE, "no_face")
        assert sample.embedding is None and sample.quality.score == 0.0
        assert sample.quality.components == {"face": 0.0}


def test_same_person_scores_higher_than_different_people(
    engine: FaceEngine, faces: Path, identities: dict[str, list[str]]
) -> None:
    # Two photos of each of five people: every same-person pair above every cross pair.
    chosen = {who: files[:2] for who, files in list(identities.items())[:5]}
    embeddings = {}
    for who, files in chosen.items():
        for name in files:
            vector = _ok(engine.analyse((faces / name).read_bytes())).embedding
            assert vector is not None
            embeddings[(who, name)] = vector
    same: list[float] = []
    different: list[float] = []
    for (a, va), (b, vb) in itertools.combinations(embeddings.items(), 2):
        (same if a[0] == b[0] else different).append(float(va @ vb))
    assert len(same) == 5 and len(different) == 40
    assert min(same) > max(different)


@pytest.mark.parametrize("name", ["img1.jpg", "img10.jpg", "img30.jpg"])
def test_quality_orders_clean_above_degraded(engine: FaceEngine, faces: Path, name: str) -> None:
    raw = (faces / name).read_bytes()
    bgr = _read(faces / name)
    sigma = max(bgr.shape[:2]) / 500
    degraded = {
        "blurred": _jpeg(np.asarray(cv2.GaussianBlur(bgr, (0, 0), sigma), dtype=np.uint8)),
        "darkened": _jpeg((bgr * 0.3).astype(np.uint8)),
        "jpeg-q8": _jpeg(bgr, 8),
        "downscaled": _jpeg(
            np.asarray(
                cv2.resize(bgr, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA), np.uint8
            )
        ),
    }
    clean = _ok(engine.analyse(raw)).quality.score
    for kind, data in degraded.items():
        sample = engine.analyse(data)
        # A degradation may cost the face altogether; that also scores below the clean photo.
        assert sample.quality.score < clean, kind


def test_a_registry_adapter_maps_the_base_embedding(engine: FaceEngine, faces: Path) -> None:
    matrix = rotation(128, 7)
    data = linear_adapter(matrix)
    adapter = load_adapter(data, manifest_for(data, "face-embedder", "1.2.0"))
    photos = [(faces / n).read_bytes() for n in ("img1.jpg", "img2.jpg", "img3.jpg")]
    plain = [_ok(engine.analyse(p)) for p in photos]
    base = np.stack([s.base_embedding for s in plain if s.base_embedding is not None])
    np.testing.assert_array_equal(
        base, np.stack([s.embedding for s in plain if s.embedding is not None])
    )
    mapped = adapter.embed(base)
    np.testing.assert_allclose(mapped, base @ matrix, atol=1e-5)
    assert float(mapped[0] @ base[0]) < 0.5
    # A rotation keeps every similarity, so thresholds carry over to the adapted space.
    np.testing.assert_allclose(mapped @ mapped.T, base @ base.T, atol=1e-5)


def test_missing_weights_name_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(MissingModelError, match=FETCH_COMMAND):
        FaceEngine(tmp_path)


def test_fetch_models_is_idempotent(tmp_path: Path) -> None:
    first = fetch_models(tmp_path)
    stamps = [p.stat().st_mtime_ns for p in first]
    assert fetch_models(tmp_path) == first
    assert [p.stat().st_mtime_ns for p in first] == stamps
    first[0].write_bytes(b"damaged")
    fetch_models(tmp_path)
    assert first[0].stat().st_size > 1_000_000
    FaceEngine(tmp_path)


def test_concurrent_calls_match_serial_ones(engine: FaceEngine, faces: Path) -> None:
    photos = [(faces / f"img{i}.jpg").read_bytes() for i in (1, 2, 3, 4, 5, 6)]
    serial = [engine.analyse(p).embedding for p in photos]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = [s.embedding for s in pool.map(engine.analyse, photos)]
    for a, b in zip(serial, parallel, strict=True):
        assert a is not None and b is not None
        np.testing.assert_array_equal(a, b)


def _rotated(bgr: NDArray[np.uint8], degrees: float) -> NDArray[np.uint8]:
    height, width = bgr.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return np.asarray(
        cv2.warpAffine(bgr, matrix, (width, height), borderMode=cv2.BORDER_REFLECT), np.uint8
    )


def test_the_cnn_detector_finds_a_face_hog_misses(
    engine: FaceEngine, models: Path, faces: Path
) -> None:
    # A head tilted by 60 degrees is beyond HOG's frontal templates, even upsampled.
    tilted = _jpeg(_rotated(_read(faces / "img1.jpg"), 60))
    hog_only = FaceEngine(models, detector=HogFaceDetector())
    assert hog_only.analyse(tilted).status is SampleStatus.NO_FACE
    rescued = _ok(engine.analyse(tilted))
    assert rescued.face_box is not None and rescued.face_box.detector == "dlib-mmod"
    # The 5 landmarks undo the tilt: the embedder sees the same chip as for the upright photo.
    upright = _ok(engine.analyse((faces / "img1.jpg").read_bytes())).embedding
    assert upright is not None and rescued.embedding is not None
    assert float(upright @ rescued.embedding) > 0.95


class _Counting:
    def __init__(self, name: str, boxes: list[FaceBox]) -> None:
        self.name = name
        self.boxes = boxes
        self.calls = 0

    def detect(self, rgb: NDArray[np.uint8]) -> list[FaceBox]:
        self.calls += 1
        return self.boxes


def test_the_fallback_detector_runs_only_when_the_first_finds_nothing() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    face = FaceBox(left=1, top=1, right=5, bottom=5)
    primary, fallback = _Counting("a", [face]), _Counting("b", [face, face])
    both = FallbackDetector(primary, fallback)
    assert both.name == "a+b"
    assert both.detect(image) == [face] and fallback.calls == 0
    primary.boxes = []
    assert both.detect(image) == [face, face]
    assert (primary.calls, fallback.calls) == (2, 1)


def _box_at(cx: int, cy: int, side: int) -> FaceBox:
    half = side // 2
    return FaceBox(left=cx - half, top=cy - half, right=cx + half, bottom=cy + half)


def test_the_subject_is_the_largest_face_discounted_by_distance_from_the_centre() -> None:
    assert pick_subject([], 640, 480) is None
    alone = _box_at(50, 50, 40)
    only = pick_subject([alone], 640, 480)
    assert only is not None and (only.box, only.faces_found, only.rule) == (
        alone,
        1,
        SubjectRule.ONLY_FACE,
    )
    central, corner_same, corner_larger = (
        _box_at(320, 240, 100),
        _box_at(140, 120, 110),
        _box_at(140, 120, 200),
    )
    # A slightly larger face in the corner loses to the central one...
    picked = pick_subject([corner_same, central], 640, 480)
    assert picked is not None and picked.box == central
    assert (picked.faces_found, picked.rule) == (2, SubjectRule.LARGEST_CENTRAL)
    # ...a much larger one wins.
    picked = pick_subject([central, corner_larger], 640, 480)
    assert picked is not None and picked.box == corner_larger


def test_a_photo_with_two_people_is_analysed_on_the_main_one(
    engine: FaceEngine, faces: Path
) -> None:
    subject, bystander = _read(faces / "img1.jpg"), _read(faces / "img2.jpg")
    small = np.asarray(
        cv2.resize(bystander, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), np.uint8
    )
    height, width = subject.shape[:2]
    canvas = np.full((height, width + small.shape[1], 3), 128, np.uint8)
    canvas[:, :width] = subject
    canvas[: small.shape[0], width:] = small
    sample = _ok(engine.analyse(_jpeg(canvas)))
    assert (sample.faces_found, sample.subject_rule) == (2, SubjectRule.LARGEST_CENTRAL)
    alone = _ok(engine.analyse(_jpeg(subject))).embedding
    assert alone is not None and sample.embedding is not None
    assert float(alone @ sample.embedding) > 0.98
    assert sample.face_box is not None and sample.face_box.right <= width


def test_the_descriptor_is_the_normalised_mean_of_both_views() -> None:
    rng = np.random.default_rng(3)
    # Raw lengths differ on purpose: each view must weigh the same.
    views = rng.normal(size=(2, 128)) * np.array([[2.0], [0.5]])
    units = views / np.linalg.norm(views, axis=1, keepdims=True)
    expected = units.mean(axis=0) / np.linalg.norm(units.mean(axis=0))
    averaged = mirror_average(views)
    assert averaged.dtype == np.float32 and averaged.shape == (128,)
    np.testing.assert_allclose(averaged, expected, atol=1e-6)
    np.testing.assert_array_equal(mirror_average(views[::-1]), averaged)


def test_a_chip_and_its_mirror_image_give_the_same_embedding(models: Path, faces: Path) -> None:
    paths = face_model_paths(models)
    embedder = DlibFaceEmbedder(paths.embedder, paths.landmarks, TIGHT_SIZE)
    rgb = np.ascontiguousarray(_read(faces / "img1.jpg")[:, :, ::-1])
    subject = pick_subject(HogFaceDetector().detect(rgb), rgb.shape[1], rgb.shape[0])
    assert subject is not None
    chip = embedder.align(rgb, subject.box).chip
    mirrored = np.ascontiguousarray(chip[:, ::-1])
    assert not np.array_equal(chip, mirrored)
    np.testing.assert_allclose(embedder.embed(chip), embedder.embed(mirrored), atol=1e-6)


@pytest.mark.parametrize("name", ["img1.jpg", "img10.jpg", "img30.jpg"])
def test_a_mirrored_photo_gives_nearly_the_same_embedding(
    engine: FaceEngine, faces: Path, name: str
) -> None:
    # The mirrored photo is detected and aligned on its own, so the chips differ by a pixel or
    # so; one view alone gave cosines of 0.993-0.996 on these photos, both views 0.998-0.999.
    bgr = _read(faces / name)
    views = [bgr, np.ascontiguousarray(bgr[:, ::-1])]
    a, b = (_ok(engine.analyse(_png(view))).embedding for view in views)
    assert a is not None and b is not None
    assert float(a @ b) > 0.997


def _png(bgr: NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".png", bgr)
    assert ok
    return buf.tobytes()
