"""Trainer test helpers: a small model trainer whose steps the test sets, and quick settings.

:class:`RotationTrainer` "trains" a random rotation of the base embedding, exports it as a real
ONNX adapter, checks its parity against numpy, and carries the packaged operating point
restamped for its version (right for a rotation, which keeps every score, so a gateway's canary
accepts it). What it does at each step is set by a :class:`Script`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import onnxruntime as ort
from pydantic import SecretStr

from bench.support.onnx_build import linear_adapter, rotation, rotation_point
from core.registry import SLOTS
from core.settings import Settings
from schemas.enums import JobStage
from schemas.manifest import ParityCheck
from schemas.model_catalog import FACE_EMBEDDER, VOICE_EMBEDDER
from trainer.pipeline import JobContext, Outcome, Progress
from trainer.registry_of_trainers import TrainerDeps, TrainerRegistry

T = TypeVar("T")


@dataclass
class Script:
    """What the test trainer does: promote or not, fail, or wait for a signal half-way."""

    promote: bool = True
    fail: Exception | None = None
    hold: asyncio.Event | None = None
    seconds: float = 0.0
    runs: list[str] = field(default_factory=list)


class RotationTrainer:
    def __init__(self, script: Script) -> None:
        self.script = script

    async def train(self, request: JobContext, progress: Progress) -> Outcome:
        self.script.runs.append(request.job.job_id)
        model = request.job.request.model
        await progress(JobStage.SNAPSHOT, 0.1, "listing samples")
        await progress(JobStage.FEATURES, 0.3)
        if self.script.hold is not None:
            await self.script.hold.wait()
        await asyncio.sleep(self.script.seconds)
        if self.script.fail is not None:
            raise self.script.fail
        await progress(JobStage.TRAINING, 0.6)
        width = SLOTS[model].width
        matrix = rotation(width, seed=len(self.script.runs))
        onnx = linear_adapter(matrix)
        await progress(JobStage.EXPORT, 0.8, "parity check")
        probe = np.random.default_rng(0).standard_normal((8, width)).astype(np.float32)
        session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
        (exported,) = session.run(None, {session.get_inputs()[0].name: probe})
        await progress(JobStage.EVALUATION, 0.9)
        return Outcome(
            onnx=onnx,
            operating_point=rotation_point(model, request.version),
            promote=self.script.promote,
            summary="rotation: scores unchanged" if self.script.promote else "no better",
            metrics={"eer_before": 0.05, "eer_after": 0.05, "samples": 8.0},
            parity=ParityCheck(
                framework="numpy",
                samples=8,
                max_abs_diff=float(np.abs(exported - probe @ matrix).max()),
                tolerance=1e-4,
            ),
            snapshot_digest="a" * 64,
        )


def registry_for(script: Script) -> TrainerRegistry:
    """Both embedders trained by a :class:`RotationTrainer` following ``script``."""

    def factory(_deps: TrainerDeps) -> RotationTrainer:
        return RotationTrainer(script)

    return TrainerRegistry({FACE_EMBEDDER: factory, VOICE_EMBEDDER: factory})


def trainer_settings(settings: Settings, signing_key: str) -> Settings:
    """``settings`` with the publisher's signing key, a consumer group of the namespace's own,
    and leases, polls and progress on a test's time scale."""
    tag = settings.kafka.topic_prefix.rstrip(".")
    publisher = settings.models.publisher.model_copy(update={"signing_key": SecretStr(signing_key)})
    return settings.model_copy(
        update={
            "trainer": settings.trainer.model_copy(
                update={
                    "consumer_group": f"trainer-{tag}",
                    "lease_seconds": 1.5,
                    "heartbeat_seconds": 0.3,
                    "max_attempts": 2,
                    "poll_seconds": 0.2,
                    "progress_interval_seconds": 0.0,
                }
            ),
            "models": settings.models.model_copy(update={"publisher": publisher}),
        }
    )


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout_s: float = 60.0, every_s: float = 0.2
) -> T:
    """The first value ``probe`` returns that is not None, polled every ``every_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        value = await probe()
        if value is not None:
            return value
        await asyncio.sleep(every_s)
    raise AssertionError(f"not within {timeout_s} s")
