"""The trainer's section (``KIBALOCK_TRAINER__*``), read by the trainer (LifeModo)."""

from __future__ import annotations

from pydantic import Field

from core.settings.base import ExpandedPath, Section


class TrainerSection(Section):
    # Whether retrain triggers start training at all.
    enabled: bool = True
    # Publish a version that passed the trainer's own evaluation, or leave it for an operator.
    auto_publish: bool = True

    # -- face detector (trainer/detector/, needs the `yolo` extra) --------------------------
    # A local ultralytics .pt to fine-tune; None trains yolov8n.yaml from scratch, which a few
    # CPU epochs cannot make competitive (see docs/configuration.md).
    detector_weights: ExpandedPath | None = None
    detector_epochs: int = Field(default=5, ge=1, le=500)
    # Training and inference side in pixels (YOLO needs a multiple of 32).
    detector_image_size: int = Field(default=320, ge=64, le=1280, multiple_of=32)
    # Share of the images held back for champion / challenger and the parity check, and the
    # share ultralytics validates on while training (split by image, deterministic).
    detector_holdout: float = Field(default=0.2, gt=0.0, lt=0.5)
    detector_validation: float = Field(default=0.15, gt=0.0, lt=0.5)
