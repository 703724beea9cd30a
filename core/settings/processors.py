"""The stream processors' section (``KIBALOCK_PROCESSORS__*``).

Durations are seconds of **event time** (the events' own timestamps) unless the name says
``wall``.
"""

from __future__ import annotations

from math import gcd
from typing import Self

from pydantic import Field, model_validator

from core.settings.base import Section
from schemas import WindowKind
from schemas.fields import Identifier, ModelName
from schemas.model_catalog import VOICE_EMBEDDER


class ProcessorsSection(Section):
    # Identity: the faust app id (consumer group, changelog and internal topic names) is
    # ``{kafka.topic_prefix}{app_id}``, so side-by-side apps and test namespaces never collide.
    app_id: Identifier = "kibalock-processors"
    producer_id: Identifier = Field(
        default="stream_processors", description="envelope producer and requested_by of outputs"
    )

    # Windows (event time). Hopping windows are assembled from panes of gcd(sizes) seconds.
    tumbling_window_s: int = Field(default=60, gt=0, le=86400)
    hopping_window_s: int = Field(default=300, gt=0, le=86400)
    hopping_step_s: int = Field(default=60, gt=0, le=86400)
    allowed_lateness_s: float = Field(
        default=10.0, ge=0, description="how far behind the slowest input a record may be"
    )
    source_idle_wall_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "an input partition read to its end and quiet this long (wall clock) stops holding "
            "the watermark back; when all are, event time is assumed to follow the wall clock"
        ),
    )

    # Retrain on accuracy drop.
    accuracy_threshold: float = Field(default=0.90, gt=0, le=1)
    recovery_accuracy: float = Field(
        default=0.93, gt=0, le=1, description="hysteresis: an incident ends at or above this"
    )
    min_labelled: int = Field(default=50, ge=1, description="labelled attempts a window needs")
    trigger_window: WindowKind = WindowKind.HOPPING
    trigger_cooldown_s: int = Field(default=3600, ge=0)

    # Personalisation: a per-user voice model once a user has this many curated voice samples.
    personalisation_samples: int = Field(default=50, ge=1)
    personal_model: ModelName = VOICE_EMBEDDER

    # Lockouts (NIST SP 800-63B: at most a few consecutive failures, then a growing delay).
    max_consecutive_failures: int = Field(default=5, ge=1)
    failure_window_s: int = Field(default=600, gt=0)
    max_window_failures: int = Field(default=10, ge=1)
    lock_duration_s: float = Field(default=30.0, gt=0)
    lock_growth: float = Field(default=2.0, ge=1, description="each further lock lasts this x")
    max_lock_duration_s: float = Field(default=3600.0, gt=0)

    # Ground-truth join.
    join_expiry_s: int = Field(default=3600, gt=0)
    sweep_interval_wall_s: float = Field(default=5.0, gt=0)

    # Worker.
    commit_interval_s: float = Field(default=2.8, gt=0, description="faust offset commits")
    session_timeout_s: float = Field(
        default=30.0,
        ge=6,
        description="how long a dead worker keeps its partitions before the group moves on",
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=6068, ge=0, le=65535, description="/healthz and /metrics")

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.hopping_window_s % self.hopping_step_s:
            raise ValueError("hopping_window_s must be a multiple of hopping_step_s")
        if self.recovery_accuracy < self.accuracy_threshold:
            raise ValueError("recovery_accuracy must be at least accuracy_threshold")
        if self.max_lock_duration_s < self.lock_duration_s:
            raise ValueError("max_lock_duration_s must be at least lock_duration_s")
        return self

    @property
    def pane_s(self) -> int:
        """The granule every window is made of: one accumulator per series and pane."""
        return gcd(self.tumbling_window_s, self.hopping_window_s, self.hopping_step_s)

    def window_size(self, kind: WindowKind) -> int:
        return self.tumbling_window_s if kind is WindowKind.TUMBLING else self.hopping_window_s

    def window_step(self, kind: WindowKind) -> int:
        return self.tumbling_window_s if kind is WindowKind.TUMBLING else self.hopping_step_s
