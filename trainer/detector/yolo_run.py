"""Training, ONNX export and the parity check, through ultralytics (blocking: run in a thread).

Everything here takes the ``ultralytics`` module from :func:`trainer.detector.offline.
load_ultralytics`, so nothing imports it at module level. Training runs on the CPU with no
dataloader workers (``workers=0``: no forked processes holding the dataset twice on a 2-core
machine) and without AMP (CPU has none; saying so also skips ultralytics' AMP check, which would
download weights).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from schemas.manifest import ParityCheck
from trainer.detector.onnx_detector import OnnxFaceDetector, letterbox

FROM_SCRATCH = "yolov8n.yaml"
BATCH = 16
# Largest |torch - onnxruntime| allowed over the raw candidates, box coordinates divided by the
# input side so that every value is in 0..1 like the scores: a 1e-3 difference is a 0.3 px box
# edge at 320 px. Measured after 60 epochs at 160 px: 5e-6.
PARITY_TOLERANCE = 1e-3

EpochReport = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainedDetector:
    weights: Path  # ultralytics' best.pt
    epochs: int
    validation: dict[str, float]  # ultralytics' last validation figures (mAP50 …)


def train(
    ultralytics: ModuleType,
    data_yaml: Path,
    workdir: Path,
    *,
    weights: Path | None,
    epochs: int,
    image_size: int,
    on_epoch: EpochReport,
) -> TrainedDetector:
    model = ultralytics.YOLO(str(weights) if weights is not None else FROM_SCRATCH)

    def report(trainer: Any) -> None:
        epoch, epochs = int(trainer.epoch) + 1, int(trainer.epochs)
        # ultralytics fires this once more after the last epoch, to log the best figures.
        if epoch <= epochs:
            on_epoch(epoch, epochs, {k: float(v) for k, v in (trainer.metrics or {}).items()})

    model.add_callback("on_fit_epoch_end", report)
    model.train(
        data=str(data_yaml),
        epochs=epochs,
        imgsz=image_size,
        batch=BATCH,
        workers=0,
        device="cpu",
        amp=False,
        plots=False,
        pretrained=weights is not None,
        val=True,
        seed=0,
        deterministic=True,
        exist_ok=True,
        project=str(workdir),
        name="run",
        verbose=False,
    )
    trainer = model.trainer
    return TrainedDetector(
        weights=Path(trainer.best),
        epochs=int(trainer.epoch) + 1,
        validation={k: float(v) for k, v in (trainer.metrics or {}).items()},
    )


def export_onnx(ultralytics: ModuleType, weights: Path, image_size: int) -> bytes:
    """The graph for a fixed ``[1, 3, S, S]`` input; simplified only when onnxslim is there
    (ultralytics would otherwise try to install it)."""
    path = ultralytics.YOLO(str(weights)).export(
        format="onnx",
        imgsz=image_size,
        batch=1,
        dynamic=False,
        simplify=find_spec("onnxslim") is not None,
        device="cpu",
        verbose=False,
    )
    return Path(path).read_bytes()


def check_parity(
    ultralytics: ModuleType, weights: Path, onnx: bytes, images: Sequence[NDArray[np.uint8]]
) -> ParityCheck:
    """The trained torch model and the exported graph on the same letterboxed images, boxes
    in units of the input side (see :data:`PARITY_TOLERANCE`).

    Raises ``ValueError`` (from :class:`ParityCheck`) when they differ beyond tolerance.
    """
    import torch

    session = OnnxFaceDetector(onnx)
    network = ultralytics.YOLO(str(weights)).model.float().fuse(verbose=False).eval()
    worst = 0.0
    for rgb in images:
        tensor = letterbox(rgb, session.side).tensor
        with torch.no_grad():
            out = network(torch.from_numpy(tensor))
        expected = (out[0] if isinstance(out, tuple | list) else out).numpy()
        difference = np.abs(expected - session.raw(tensor))
        # Rows 0-3 of the candidates are boxes in input pixels, the others class scores.
        difference[:, :4] /= session.side
        worst = max(worst, float(difference.max()))
    return ParityCheck(
        framework=f"torch-{torch.__version__}",
        samples=len(images),
        max_abs_diff=worst,
        tolerance=PARITY_TOLERANCE,
    )
