"""A whole face-detector job on the vendored faces: labels, training, ONNX, parity, verdict.

One epoch at 160 px keeps it within a minute or so on 2 cores; the figures are whatever that
produces, and the test checks they are honest, not that they are good.
"""

from __future__ import annotations

import asyncio
import re
import resource
import sys
import time
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from core.biometrics.dataset import DEFAULT_DATA_DIR
from core.registry import check_publishable, describe
from core.settings import Settings
from schemas.enums import JobStage, RetrainReason
from trainer.detector.onnx_detector import OnnxFaceDetector
from trainer.detector.trainer import DetectorTrainer
from trainer.jobs import Job, JobRequest
from trainer.pipeline import JobContext, Outcome, Progress

_NETWORK_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname"}
# The network calls seen while a job runs (one list per job running; none: not watching).
_watching: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Records lookups and connections to anything but this machine while a job runs.
    if not _watching or event not in _NETWORK_EVENTS:
        return
    target = args[1] if event == "socket.connect" else args[0]
    host = target[0] if isinstance(target, tuple) else target
    if isinstance(host, bytes):
        host = host.decode()
    if host in {"localhost", None} or (isinstance(host, str) and host.startswith("/")):
        return
    try:
        if ip_address(str(host)).is_loopback:
            return
    except ValueError:
        pass
    _watching[-1].append(f"{event} {host}")


sys.addaudithook(_audit)


def _context() -> JobContext:
    now = datetime.now(UTC)
    request = JobRequest(model="face-detector", reason=RetrainReason.MANUAL, requested_by="test")
    job = Job(
        job_id="job-detector", key="face-detector", request=request, created_at=now, updated_at=now
    )
    return JobContext(job=job, version="1.1.0", champion_version="1.0.0")


@pytest.fixture(scope="module")
def job() -> tuple[Outcome, list[tuple[JobStage, float, str]], list[str], float, float]:
    """Runs the job once for the tests below; returns what they look at."""
    reports: list[tuple[JobStage, float, str]] = []
    loaded_for: list[JobContext] = []

    async def progress(stage: JobStage, fraction: float, message: str = "") -> None:
        reports.append((stage, fraction, message))

    async def negatives(request: JobContext, _: Progress) -> list[tuple[str, NDArray[np.uint8]]]:
        # Two images without a face, through the loader the data snapshot plugs into.
        loaded_for.append(request)
        noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
        return [("flat-grey", np.full((240, 320, 3), 128, dtype=np.uint8)), ("noise", noise)]

    settings = Settings(trainer={"detector_epochs": 1, "detector_image_size": 160})
    faces = sorted((DEFAULT_DATA_DIR / "faces").glob("*.jpg"))
    trainer = DetectorTrainer(settings, images=faces, load=negatives)
    context = _context()
    network: list[str] = []
    _watching.append(network)
    start = time.perf_counter()
    try:
        outcome = asyncio.run(trainer.train(context, progress))
    finally:
        _watching.remove(network)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert loaded_for == [context]
    parity = outcome.parity.max_abs_diff if outcome.parity else float("nan")
    print(f"\ndetector job: {wall:.1f} s wall, peak RSS {peak_mb:.0f} MB, parity {parity:.2g}")
    print(outcome.summary)
    return outcome, reports, network, wall, peak_mb


def test_the_job_exports_an_onnx_detector_that_matches_torch_and_can_be_published(job: Any) -> None:
    outcome, _, network, _, _ = job
    assert network == []  # offline: no lookup, no connection beyond this machine
    assert outcome.parity is not None
    assert outcome.parity.framework.startswith("torch-")
    assert outcome.parity.samples == outcome.metrics["images_held_back"] >= 1
    assert outcome.parity.max_abs_diff <= outcome.parity.tolerance
    detector = OnnxFaceDetector(outcome.onnx)
    assert detector.side == 160
    boxes = detector.detect(np.zeros((200, 300, 3), dtype=np.uint8))
    assert all(0 <= b.left <= b.right <= 300 and 0 <= b.top <= b.bottom <= 200 for b in boxes)
    manifest = describe(outcome.onnx, "face-detector", "1.1.0")
    check_publishable(outcome.onnx, manifest)
    assert outcome.operating_point is None  # a detector's output is not a score


def test_the_verdict_follows_both_sides_figures(job: Any) -> None:
    outcome, _, _, _, _ = job
    metrics: dict[str, float] = outcome.metrics
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", code) for code in metrics)
    # 48 photos with one face each, and the loader's two negatives, split three ways.
    assert metrics["faces_labelled"] == 48 and metrics["negatives"] == 2
    parts = metrics["images_train"] + metrics["images_validation"] + metrics["images_held_back"]
    assert parts == 50
    # The labels are the default detector's own boxes, so it is perfect on them by construction,
    # and a challenger can at best tie: never promoted.
    assert (metrics["champion_recall"], metrics["champion_precision"], metrics["champion_fta"]) == (
        1.0,
        1.0,
        0.0,
    )
    for side in ("champion", "challenger"):
        for figure in ("recall", "precision", "fta"):
            assert 0.0 <= metrics[f"{side}_{figure}"] <= 1.0
    assert outcome.promote is False
    assert "not promoted" in outcome.summary
    assert outcome.snapshot_digest is not None and len(outcome.snapshot_digest) == 64


def test_progress_goes_through_every_stage_in_order_with_one_report_per_epoch(job: Any) -> None:
    _, reports, _, _, _ = job
    stages = [stage for stage, _, _ in reports]
    order = [
        JobStage.SNAPSHOT,
        JobStage.FEATURES,
        JobStage.TRAINING,
        JobStage.EXPORT,
        JobStage.EVALUATION,
    ]
    assert sorted(set(stages), key=stages.index) == order
    fractions = [fraction for _, fraction, _ in reports]
    assert fractions == sorted(fractions) and fractions[0] >= 0.0 and fractions[-1] <= 1.0
    epochs = [m for _, _, m in reports if m.startswith("epoch")]
    assert len(epochs) == 1 and re.fullmatch(r"epoch 1/1, validation mAP50 \d\.\d{3}", epochs[0])
