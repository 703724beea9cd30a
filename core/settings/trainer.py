"""The trainer's section (``KIBALOCK_TRAINER__*``), read by the trainer (LifeModo)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from core.settings.base import ExpandedPath, Section


class TrainerSection(Section):
    # Whether retrain triggers start training at all.
    enabled: bool = True
    # Publish a version that passed the trainer's own evaluation, or leave it for an operator.
    auto_publish: bool = True

    # --- Training data: snapshot, split and retention (trainer/dataset.py, split.py,
    # retention.py) ---
    # Curated samples of one user a snapshot takes, the newest first; enrolment samples are
    # always taken (they are the templates).
    max_samples_per_user: int = Field(default=200, ge=1)
    # Share of users held out whole as the identity-disjoint guard set, and its floor; the
    # guard only takes users the training set can spare (see min_train_users).
    guard_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    guard_min_users: int = Field(default=1, ge=0)
    # Share of each training user's samples (per condition) held back for validation.
    validation_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    # Below these a job fails with too_little_data instead of training on noise: users with at
    # least min_samples_per_user usable samples, one of them held back for validation.
    min_train_users: int = Field(default=2, ge=1)
    min_samples_per_user: int = Field(default=2, ge=2)
    # Seed of the guard and validation draws (a change re-draws every split).
    split_seed: int = 0
    # NIST SP 800-63B: curated raw media are erased this many days after capture; what jobs
    # derived from them (snapshots, feature counts) is kept.
    raw_media_retention_days: float = Field(default=30.0, gt=0.0)
    retention_sweep_interval_s: float = Field(default=3600.0, gt=0.0)

    # --- the job service (trainer/service.py, trainer/job_store.py) ---
    # REST API (retrain requests, job status, health, metrics).
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    consumer_group: str = "trainer"
    # A running job's lease: a trainer renews it every heartbeat_seconds; a job whose lease ran
    # out (its trainer died) is requeued, or failed once it has started max_attempts times.
    lease_seconds: float = Field(default=120.0, gt=0)
    heartbeat_seconds: float = Field(default=20.0, gt=0)
    max_attempts: int = Field(default=2, ge=1)
    # How often an idle worker looks for a queued job (and for jobs of dead trainers).
    poll_seconds: float = Field(default=5.0, gt=0)
    # At most one progress update per job this often on training.jobs (stage changes always).
    progress_interval_seconds: float = Field(default=2.0, ge=0)

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

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Self:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self
