"""The face-detector trainer's pure parts: the YOLO dataset, the scoring, the missing extra,
and what publishing a detector checks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import yaml
from onnx import TensorProto, helper

from auth_gateway.hotswap import HotSwapper
from core.biometrics.face_detect import FaceBox
from core.registry import SLOTS, ActiveModels, ModelRejected, check_publishable, describe
from core.settings import ModelsSection, Settings
from core.signing import TrustedKeys
from schemas import IoSpec, ModelPublished, TensorDType, TensorSpec
from schemas.examples import example_events
from schemas.model_catalog import BASE_VERSION
from tests.registry_kit import detector_graph, good
from tests.unit.test_hotswap_pinned import Untouchable
from trainer.detector.dataset import LabelledImage, Part, assign_parts, label_lines, write_dataset
from trainer.detector.evaluate import DetectionScores, beats, score_detector, true_detections
from trainer.detector.offline import load_ultralytics
from trainer.detector.onnx_detector import OnnxFaceDetector, letterbox
from trainer.detector.trainer import DetectorTrainer
from trainer.pipeline import JobFailed


def _box(left: int, top: int, right: int, bottom: int, score: float = 1.0) -> FaceBox:
    return FaceBox(left=left, top=top, right=right, bottom=bottom, score=score)


def test_label_lines_are_normalised_centre_and_size_clipped_to_the_image() -> None:
    lines = label_lines([_box(20, 10, 60, 50), _box(-10, 80, 30, 120), _box(5, 5, 5, 9)], 200, 100)
    # The second box is clipped to x 0..30, y 80..100; the empty third one is dropped.
    assert lines == [
        "0 0.200000 0.300000 0.200000 0.400000",
        "0 0.075000 0.900000 0.150000 0.200000",
    ]


def test_parts_are_deterministic_by_image_and_stable_when_images_are_added() -> None:
    ids = [f"img{i}.jpg" for i in range(400)]
    parts = assign_parts(ids, 0.2, 0.15)
    assert parts == assign_parts(list(reversed(ids)), 0.2, 0.15)
    shares = {p: sum(v is p for v in parts.values()) / len(ids) for p in Part}
    assert shares[Part.HELD_BACK] == pytest.approx(0.2, abs=0.05)
    assert shares[Part.VALIDATION] == pytest.approx(0.15, abs=0.05)
    # More data moves no image: one held back once is never trained on by a later job.
    more = assign_parts([*ids, *(f"new{i}.jpg" for i in range(100))], 0.2, 0.15)
    assert all(more[i] is parts[i] for i in ids)


def test_the_dataset_has_yolo_layout_negatives_and_no_held_back_image(tmp_path: Path) -> None:
    rgb = np.zeros((100, 200, 3), dtype=np.uint8)
    images = [
        LabelledImage("face-a", rgb, [_box(20, 10, 60, 50)]),
        LabelledImage("empty-b", rgb, []),
        LabelledImage("kept-c", rgb, [_box(0, 0, 100, 100)]),
    ]
    parts = {"face-a": Part.TRAIN, "empty-b": Part.VALIDATION, "kept-c": Part.HELD_BACK}
    data_yaml = write_dataset(tmp_path, images, parts)
    spec = yaml.safe_load(data_yaml.read_text())
    assert spec["names"] == {0: "face"}
    assert (tmp_path / spec["train"]).is_dir() and (tmp_path / spec["val"]).is_dir()
    labels = {p.parent.name: p.read_text() for p in (tmp_path / "labels").rglob("*.txt")}
    assert labels == {"train": "0 0.200000 0.300000 0.200000 0.400000\n", "val": ""}
    pngs = sorted(p.parent.name for p in (tmp_path / "images").rglob("*.png"))
    assert pngs == ["train", "val"]  # held-back images stay out of the training folder
    for png in (tmp_path / "images").rglob("*.png"):
        assert (tmp_path / "labels" / png.parent.name / f"{png.stem}.txt").exists()


class _Fixed:
    """A detector that returns given boxes per image (by the image's first pixel value)."""

    name = "fixed"

    def __init__(self, boxes: dict[int, list[FaceBox]]) -> None:
        self._boxes = boxes

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:  # type: ignore[type-arg]
        return self._boxes[int(rgb[0, 0, 0])]


def _image(tag: int, faces: list[FaceBox]) -> LabelledImage:
    return LabelledImage(f"i{tag}", np.full((100, 100, 3), tag, dtype=np.uint8), faces)


def test_scores_count_matches_at_iou_half_false_detections_and_failures_to_acquire() -> None:
    face = _box(10, 10, 50, 50)
    images = [
        _image(0, [face]),
        _image(1, [face]),
        _image(2, []),
        _image(3, [face, _box(60, 60, 90, 90)]),
    ]
    detector = _Fixed(
        {
            0: [_box(12, 12, 52, 52)],  # IoU 0.82: a match
            1: [_box(30, 30, 70, 70)],  # IoU 0.14: a false detection, the face missed
            2: [_box(0, 0, 20, 20)],  # on a negative: a false detection
            3: [],  # nothing found: a failure to acquire
        }
    )
    scores = score_detector(detector, images)
    assert (scores.faces, scores.found, scores.matched) == (4, 3, 1)
    assert scores.recall == pytest.approx(1 / 4)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.failure_to_acquire == pytest.approx(1 / 3)
    assert set(scores.metrics("challenger")) == {
        "challenger_recall",
        "challenger_precision",
        "challenger_fta",
        "challenger_ms_per_image",
    }
    # One found box matches one labelled face, however many overlap it.
    assert true_detections([face, face], [face]) == 1


def _scores(matched: int, found: int, missed: int) -> DetectionScores:
    return DetectionScores(
        images=10, faces=10, found=found, matched=matched, missed_images=missed,
        images_with_faces=10, seconds=1.0,
    )  # fmt: skip


def test_a_challenger_is_promoted_only_when_not_worse_anywhere_and_better_somewhere() -> None:
    champion = _scores(matched=8, found=10, missed=1)
    assert beats(_scores(matched=9, found=10, missed=1), champion)
    assert not beats(_scores(matched=8, found=10, missed=1), champion)  # a tie
    assert not beats(_scores(matched=9, found=12, missed=1), champion)  # recall up, precision down
    assert not beats(_scores(matched=7, found=7, missed=0), champion)  # fewer faces found
    # Against its own labels the default detector is perfect: nothing can beat it.
    perfect = _scores(matched=10, found=10, missed=0)
    assert not beats(perfect, perfect)


def test_without_the_extra_the_job_fails_and_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_VERBOSE", "YOLO_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    # A None entry makes `import ultralytics` raise ImportError, as if it were not installed.
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    with pytest.raises(JobFailed) as exc:
        load_ultralytics(tmp_path)
    assert exc.value.reason == "extra_missing"
    assert "pip install 'kibalock[yolo]'" in exc.value.message
    assert "AGPL-3.0" in exc.value.message


async def test_a_detector_job_without_the_extra_fails_before_any_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_VERBOSE", "YOLO_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    reported: list[str] = []

    async def progress(stage: object, fraction: float, message: str = "") -> None:
        reported.append(message)

    trainer = DetectorTrainer(Settings(cache_dir=tmp_path), images=[tmp_path / "absent.jpg"])
    with pytest.raises(JobFailed) as exc:
        await trainer.train(None, progress)  # type: ignore[arg-type]
    assert exc.value.reason == "extra_missing"
    assert reported == []


async def test_configured_weights_that_are_not_there_fail_the_job_before_any_work(
    tmp_path: Path,
) -> None:
    async def progress(stage: object, fraction: float, message: str = "") -> None:
        raise AssertionError("no work should start")

    settings = Settings(cache_dir=tmp_path, trainer={"detector_weights": tmp_path / "face.pt"})
    with pytest.raises(JobFailed) as exc:
        await DetectorTrainer(settings).train(None, progress)  # type: ignore[arg-type]
    assert exc.value.reason == "weights_missing"
    assert str(tmp_path / "face.pt") in exc.value.message


def _fixed_candidates(candidates: list[list[float]], side: int = 160) -> bytes:
    """A detector graph whose candidates do not depend on the image (``[1, 5, K]``)."""
    table = np.asarray(candidates, dtype=np.float32).T[None]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
            helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
            helper.make_node("Add", ["table", "nothing"], ["output0"]),
        ],
        "fixed_candidates",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(table.shape))],
        initializer=[
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("table", TensorProto.FLOAT, table.shape, table.ravel().tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    serialised: bytes = model.SerializeToString()
    return serialised


def test_the_onnx_detector_maps_candidates_back_through_the_letterbox() -> None:
    # A 320 x 200 photo fills 160 x 100 of the 160 px input, 30 px of grey above and below.
    detector = OnnxFaceDetector(
        _fixed_candidates(
            [
                [80, 80, 40, 20, 0.9],  # a face: (60, 70)-(100, 90) in the input
                [81, 80, 40, 20, 0.8],  # the same face, less sure: suppressed
                [20, 40, 10, 10, 0.1],  # below the confidence floor
                [150, 125, 20, 10, 0.5],  # partly outside the photo: clipped to it
            ]
        )
    )
    faces = detector.detect(np.zeros((200, 320, 3), dtype=np.uint8))
    assert [(f.left, f.top, f.right, f.bottom) for f in faces] == [
        (120, 80, 200, 120),
        (280, 180, 320, 200),
    ]
    assert [f.score for f in faces] == pytest.approx([0.9, 0.5])
    boxed = letterbox(np.zeros((200, 320, 3), dtype=np.uint8), 160)
    assert boxed.tensor.shape == (1, 3, 160, 160)
    assert (boxed.scale, boxed.pad_x, boxed.pad_y) == (0.5, 0.0, 30.0)
    assert boxed.tensor[0, :, 0, 0] == pytest.approx([114 / 255] * 3)


def _rejected(data: bytes, name: str = "face-detector", **changes: object) -> str:
    manifest = describe(data, name, "1.1.0").model_copy(update=changes)
    with pytest.raises(ModelRejected) as exc:
        check_publishable(data, manifest)
    return exc.value.reason


def test_a_detector_is_publishable_without_an_operating_point() -> None:
    data = detector_graph()
    manifest = describe(data, "face-detector", "1.1.0")
    assert manifest.operating_point is None
    check_publishable(data, manifest)
    # Its manifest must declare the graph's I/O, with the catalog's preprocessing.
    wrong = IoSpec(
        inputs=[TensorSpec(name="images", dtype=TensorDType.FLOAT32, shape=[1, 3, 64, 64])],
        outputs=manifest.io.outputs,
    )
    assert _rejected(data, io=wrong) == "io_spec_mismatch"
    assert _rejected(data, preprocessing="face-gray-image") == "preprocessing_mismatch"
    # An adapter's graph is not a detector, and bytes onnxruntime cannot load are refused.
    assert _rejected(good(128)) == "io_spec_mismatch"
    assert _rejected(detector_graph(outputs=4)) == "model_output_invalid"
    with pytest.raises(ModelRejected) as exc:
        check_publishable(b"not onnx", manifest)
    assert exc.value.reason == "invalid_onnx"
    # A model that is neither an adapter nor a detector cannot be published.
    assert _rejected(data, name="speech-recogniser") == "unknown_model"


async def test_a_gateway_leaves_a_published_detector_alone() -> None:
    # The registry, store, producer and re-embedder fail on any use: the gateway neither loads
    # the detector nor marks it rejected in the registry.
    swapper = HotSwapper(
        registry=cast(Any, Untouchable()),
        objects=cast(Any, Untouchable()),
        producer=cast(Any, Untouchable()),
        reembedder=cast(Any, Untouchable()),
        settings=ModelsSection(),
        trust=TrustedKeys([]),
        instance_id="gateway",
        follow_registry=True,
        defaults=ActiveModels.offline({}),
    )
    published = next(e for e in example_events() if isinstance(e, ModelPublished))
    await swapper.handle_published(published.model_copy(update={"model": "face-detector"}))
    assert swapper.current().versions() == {name: BASE_VERSION for name in SLOTS}
