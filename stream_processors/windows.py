"""Window accumulators and window arithmetic (event time, seconds since the epoch, UTC).

State is kept per **pane**: a series (``global``, ``terminal:<id>``, ``model_version:<m>@<v>``)
over ``pane_s`` seconds, ``pane_s`` being the gcd of the window sizes and the hop. A tumbling
window is the sum of its panes, and so is each hopping window, so one observation updates one
accumulator per series however many windows overlap it.

Windows are aligned on the epoch: a tumbling window of size T ends at multiples of T; a hopping
window of size S and hop H covers ``[e - S, e)`` for every multiple ``e`` of H.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas import MetricCounts, MetricWindow, WindowKind
from stream_processors.observations import (
    AttemptLabelled,
    DecisionObserved,
    Fact,
    QualityObserved,
    parse_series,
    progress_key,
)
from stream_processors.outcomes import rate, verdict
from stream_processors.sketch import LatencySketch

# Deterministic event ids: a window emitted again after a crash keeps its event_id.
EVENT_NAMESPACE = uuid.UUID("6f1d3c9e-2b4a-4e8f-9c71-0a5e2d7b8c13")
_IDENTIFIER_MAX = 128


class PaneAccumulator(BaseModel):
    """Sums over one series and one pane; merges by addition."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = 0
    labelled: int = 0
    genuine: int = 0
    impostor: int = 0
    false_accepts: int = 0
    false_rejects: int = 0
    genuine_score_sum: float = 0.0
    genuine_scored: int = 0
    impostor_score_sum: float = 0.0
    impostor_scored: int = 0
    face_quality_sum: float = 0.0
    face_quality_n: int = 0
    voice_quality_sum: float = 0.0
    voice_quality_n: int = 0
    latency: LatencySketch = Field(default_factory=LatencySketch)
    # Highest input offset applied, per "source/kind": what makes re-delivery harmless.
    progress: dict[str, int] = Field(default_factory=dict)

    def apply(self, obs: Fact) -> bool:
        """Adds the observation unless this pane has applied it already; True if added."""
        key = progress_key(obs)
        if self.progress.get(key, -1) >= obs.offset:
            return False
        self.progress[key] = obs.offset
        if isinstance(obs, DecisionObserved):
            self.attempts += 1
            self.latency.add(obs.latency_ms)
        elif isinstance(obs, AttemptLabelled):
            self._apply_label(obs)
        elif isinstance(obs, QualityObserved):
            if obs.face is not None:
                self.face_quality_sum += obs.face
                self.face_quality_n += 1
            if obs.voice is not None:
                self.voice_quality_sum += obs.voice
                self.voice_quality_n += 1
        return True

    def _apply_label(self, obs: AttemptLabelled) -> None:
        v = verdict(obs.outcome, obs.label)
        self.labelled += 1
        if v.genuine:
            self.genuine += 1
            self.false_rejects += v.false_reject
            if obs.fused_score is not None:
                self.genuine_score_sum += obs.fused_score
                self.genuine_scored += 1
        else:
            self.impostor += 1
            self.false_accepts += v.false_accept
            if obs.fused_score is not None:
                self.impostor_score_sum += obs.fused_score
                self.impostor_scored += 1

    def merge(self, other: PaneAccumulator) -> None:
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)

    @property
    def accuracy(self) -> float | None:
        return rate(self.labelled - self.false_accepts - self.false_rejects, self.labelled)


_SUMMED = tuple(
    name for name in PaneAccumulator.model_fields if name not in {"latency", "progress"}
)


def epoch(at: datetime) -> float:
    return at.timestamp()


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def pane_start(t: float, pane_s: int) -> int:
    return math.floor(t / pane_s) * pane_s


def window_ends(pane: int, pane_s: int, size: int, step: int) -> range:
    """Ends of the windows (size, step) that contain the pane ``[pane, pane + pane_s)``."""
    first = math.ceil((pane + pane_s) / step) * step
    last = math.floor((pane + size) / step) * step
    return range(first, last + 1, step)


def bounded_identifier(text: str) -> str:
    """``text`` if it fits an Identifier, else a prefix and a digest (same input, same id)."""
    if len(text) <= _IDENTIFIER_MAX:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    return f"{text[: _IDENTIFIER_MAX - 25]}-{digest}"


def metric_id(series: str, kind: WindowKind, size_s: int) -> str:
    return bounded_identifier(f"auth:{kind.value}:{size_s}s:{series}")


def metric_window(
    series: str,
    kind: WindowKind,
    end: int,
    size_s: int,
    acc: PaneAccumulator,
    *,
    producer: str,
) -> MetricWindow:
    """The event for one closed window. Means and percentiles are None without samples."""
    dimension, value = parse_series(series)
    ident = metric_id(series, kind, size_s)
    return MetricWindow(
        event_id=uuid.uuid5(EVENT_NAMESPACE, f"metrics|{ident}|{end}"),
        occurred_at=utc(end),
        producer=producer,
        metric_id=ident,
        window_start=utc(end - size_s),
        window_end=utc(end),
        window_kind=kind,
        window_size_s=size_s,
        dimension=dimension,
        dimension_value=None if value is None else bounded_identifier(value),
        counts=MetricCounts(
            attempts=acc.attempts,
            labelled=acc.labelled,
            genuine=acc.genuine,
            impostor=acc.impostor,
            false_accepts=acc.false_accepts,
            false_rejects=acc.false_rejects,
        ),
        accuracy=acc.accuracy,
        far=rate(acc.false_accepts, acc.impostor),
        frr=rate(acc.false_rejects, acc.genuine),
        mean_genuine_score=_mean(acc.genuine_score_sum, acc.genuine_scored),
        mean_impostor_score=_mean(acc.impostor_score_sum, acc.impostor_scored),
        latency_p50_ms=acc.latency.quantile(0.5),
        latency_p95_ms=acc.latency.quantile(0.95),
        mean_face_quality=_unit_mean(acc.face_quality_sum, acc.face_quality_n),
        mean_voice_quality=_unit_mean(acc.voice_quality_sum, acc.voice_quality_n),
    )


def _mean(total: float, n: int) -> float | None:
    return total / n if n else None


def _unit_mean(total: float, n: int) -> float | None:
    # Sums of values in [0, 1] may round a hair past 1; the schema's Score refuses that.
    mean = _mean(total, n)
    return None if mean is None else min(1.0, max(0.0, mean))
