"""The trainer's section (``KIBALOCK_TRAINER__*``), read by the trainer (LifeModo)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from core.settings.base import Section


class TrainerSection(Section):
    # Whether retrain triggers start training at all.
    enabled: bool = True
    # Publish a version that passed the trainer's own evaluation, or leave it for an operator.
    auto_publish: bool = True

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

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Self:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self
