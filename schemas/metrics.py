"""Windowed performance figures computed by the stream processors."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from schemas.enums import MetricDimension, WindowKind
from schemas.envelope import Event
from schemas.fields import Count, Identifier, Score, UtcDatetime
from schemas.values import ValueModel


class MetricCounts(ValueModel):
    """Counts over one window. ``labelled`` attempts are those with feedback; attacks count as
    impostors."""

    attempts: Count
    labelled: Count
    genuine: Count
    impostor: Count
    false_accepts: Count = Field(description="impostor attempts that were accepted")
    false_rejects: Count = Field(description="genuine attempts that were rejected")

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        # Feedback may arrive in a later window than its attempt, so labelled may exceed
        # attempts; but these inclusions hold in any window.
        if self.genuine + self.impostor > self.labelled:
            raise ValueError("genuine + impostor exceeds labelled")
        if self.false_accepts > self.impostor:
            raise ValueError("false_accepts exceeds impostor")
        if self.false_rejects > self.genuine:
            raise ValueError("false_rejects exceeds genuine")
        return self


class MetricWindow(Event):
    """Accuracy, error rates, volume, latency and quality over one time window, for one model
    version, one terminal, or everything. Rates are None when undefined (no trials)."""

    EVENT_TYPE: ClassVar[str] = "metrics.window"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "metric_id"

    metric_id: Identifier = Field(description="names the series, e.g. 'far:model_version'")
    window_start: UtcDatetime
    window_end: UtcDatetime
    window_kind: WindowKind
    window_size_s: int = Field(gt=0, le=366 * 86400)
    dimension: MetricDimension
    dimension_value: Identifier | None = Field(
        default=None, description="the model version or terminal id; None for global"
    )
    counts: MetricCounts
    accuracy: Score | None = None
    far: Score | None = Field(default=None, description="false_accepts / impostor")
    frr: Score | None = Field(default=None, description="false_rejects / genuine")
    mean_genuine_score: float | None = None
    mean_impostor_score: float | None = None
    latency_p50_ms: float | None = Field(default=None, ge=0.0)
    latency_p95_ms: float | None = Field(default=None, ge=0.0)
    mean_face_quality: Score | None = None
    mean_voice_quality: Score | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if (self.dimension is MetricDimension.GLOBAL) != (self.dimension_value is None):
            raise ValueError("dimension_value is set exactly when the dimension is not global")
        if (
            self.latency_p50_ms is not None
            and self.latency_p95_ms is not None
            and self.latency_p50_ms > self.latency_p95_ms
        ):
            raise ValueError("latency_p50_ms exceeds latency_p95_ms")
        # A rate over zero trials is undefined, and 0.0 would read as "perfect" on a dashboard.
        if self.far is not None and self.counts.impostor == 0:
            raise ValueError("far is undefined (None) without impostor trials")
        if self.frr is not None and self.counts.genuine == 0:
            raise ValueError("frr is undefined (None) without genuine trials")
        return self
