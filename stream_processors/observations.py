"""Facts the ingest stage hands to the metrics stage, on the app's internal topic.

Stage 1 (ingest) is partitioned by user like its inputs; the metrics it feeds are grouped by
model version, terminal and globally, across users. Observations are the repartitioning step:
one record per fact, on a one-partition internal topic that stage 2 (metrics) consumes in order.

Each observation names where it came from (``source`` = input ``topic:partition``, ``offset``).
Stage 1 re-emits the observations of any input record it processes again after a crash; stage 2
applies an observation to a window accumulator only if its offset is beyond the highest one that
accumulator has applied for that source and kind (see ``windows.PaneAccumulator``).

``SourceIdle`` is not a fact but a promise: stage 1 has read everything in that input partition
and nothing new came for a while, so the partition need not hold the watermark back.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas import FeedbackLabel, MetricDimension, Outcome
from schemas.fields import Identifier, Score, UtcDatetime
from schemas.model_catalog import ModelRef

_CONFIG = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class _Fact(BaseModel):
    model_config = _CONFIG

    source: str = Field(description="input topic:partition (logical topic name)")
    offset: int = Field(ge=0)
    # Two times: the window the fact belongs to, and the time of the input record it came
    # from. They differ for a label completed by a decision (the feedback may be later); only
    # the record's time says how far its partition has got, so only it drives the watermark.
    event_time: UtcDatetime
    record_time: UtcDatetime
    terminal_id: Identifier


class DecisionObserved(_Fact):
    """A decision was made: volume and latency, counted at ``decided_at``."""

    kind: Literal["decision"] = "decision"
    model_versions: dict[str, str] = Field(default_factory=dict)
    outcome: Outcome
    latency_ms: float = Field(ge=0)


class AttemptLabelled(_Fact):
    """A decision met its ground truth, counted when the join completed (in event time: the
    later of ``decided_at`` and the feedback's ``occurred_at``)."""

    kind: Literal["label"] = "label"
    model_versions: dict[str, str] = Field(default_factory=dict)
    outcome: Outcome
    label: FeedbackLabel
    fused_score: float | None = None


class QualityObserved(_Fact):
    """Sample quality from ``auth.quality``; no model versions, so terminal and global only."""

    kind: Literal["quality"] = "quality"
    face: Score | None = None
    voice: Score | None = None


class SourceIdle(BaseModel):
    """An input partition has nothing left to read and has been quiet for a while."""

    model_config = _CONFIG

    kind: Literal["idle"] = "idle"
    source: str
    high: UtcDatetime | None = Field(description="the latest event time read from it, if any")


Fact = DecisionObserved | AttemptLabelled | QualityObserved
Observation = Annotated[Fact | SourceIdle, Field(discriminator="kind")]
# mypy cannot always type an Annotated union as a TypeAdapter argument (it depends on what else
# the run checks); pydantic handles it.
OBSERVATION: TypeAdapter[Observation] = TypeAdapter(
    Observation  # type: ignore[arg-type,unused-ignore]
)

SERIES_SEP = ":"
GLOBAL_SERIES = MetricDimension.GLOBAL.value


def series_of(obs: Fact) -> list[str]:
    """The metric series an observation feeds: global, its terminal, each model version."""
    series = [GLOBAL_SERIES, f"{MetricDimension.TERMINAL.value}{SERIES_SEP}{obs.terminal_id}"]
    if not isinstance(obs, QualityObserved):
        series.extend(
            f"{MetricDimension.MODEL_VERSION.value}{SERIES_SEP}{model_version_value(name, ver)}"
            for name, ver in sorted(obs.model_versions.items())
        )
    return series


def model_version_value(model: str, version: str) -> str:
    return str(ModelRef(name=model, version=version))


def parse_series(series: str) -> tuple[MetricDimension, str | None]:
    dimension, _, value = series.partition(SERIES_SEP)
    return MetricDimension(dimension), (value or None)


def progress_key(obs: Fact) -> str:
    """Offsets grow per input partition; one record may yield one observation of each kind."""
    return f"{obs.source}/{obs.kind}"
