"""What the dashboard has read from its three topics, kept in memory and bounded.

Records arrive from the live feed's thread and are read by every Streamlit session's thread, so
the state takes a lock and hands out immutable snapshots. Decoding goes through the schemas'
codec: a record that does not decode is counted by its reason and skipped, never raised.

Delivery is at least once, and the processors may emit a window again after a crash with a few
more records: a metric window is kept once per (series, end), the latest copy winning; an
activation once per event id; a job once per job id, its latest update.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from schemas import (
    DecodeError,
    Event,
    MetricWindow,
    ModelActivation,
    TrainingJobUpdate,
    decode,
)

METRICS = "metrics"
ACTIVATIONS = "models.activations"
JOBS = "training.jobs"
TOPICS = (METRICS, ACTIVATIONS, JOBS)

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class FeedSnapshot:
    """The events read so far, oldest first, and how reading went."""

    metrics: tuple[MetricWindow, ...] = ()
    activations: tuple[ModelActivation, ...] = ()
    jobs: tuple[TrainingJobUpdate, ...] = ()
    records: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    connected: bool = False
    error: str | None = None

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class FeedState:
    """The bounded, de-duplicated state of the feed; safe to share between threads."""

    def __init__(self, history: int) -> None:
        self._history = history
        self._lock = threading.Lock()
        self._metrics: OrderedDict[tuple[str, datetime], MetricWindow] = OrderedDict()
        self._activations: OrderedDict[UUID, ModelActivation] = OrderedDict()
        self._jobs: OrderedDict[str, TrainingJobUpdate] = OrderedDict()
        self._records = 0
        self._skipped: Counter[str] = Counter()
        self._connected = False
        self._error: str | None = None

    def ingest(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """One record of ``topic`` (a catalog name, without any prefix)."""
        with self._lock:
            self._records += 1
            if value is None:
                self._tombstone(topic, key)
                return
            try:
                event = decode(topic, value, headers)
            except DecodeError as exc:
                self._skipped[exc.reason] += 1
                return
            self._add(event)

    def add(self, event: MetricWindow | ModelActivation | TrainingJobUpdate) -> None:
        """An event already decoded (tests and tools)."""
        with self._lock:
            self._records += 1
            self._add(event)

    def connection(self, connected: bool, error: str | None = None) -> None:
        with self._lock:
            self._connected, self._error = connected, error

    def snapshot(self) -> FeedSnapshot:
        with self._lock:
            return FeedSnapshot(
                metrics=tuple(sorted(self._metrics.values(), key=lambda m: m.window_end)),
                activations=tuple(sorted(self._activations.values(), key=_occurred)),
                jobs=tuple(sorted(self._jobs.values(), key=_occurred)),
                records=self._records,
                skipped=dict(self._skipped),
                connected=self._connected,
                error=self._error,
            )

    def _add(self, event: Event) -> None:
        if isinstance(event, MetricWindow):
            _put(self._metrics, (event.metric_id, event.window_end), event, self._history)
        elif isinstance(event, ModelActivation):
            _put(self._activations, event.event_id, event, self._history)
        elif isinstance(event, TrainingJobUpdate):
            current = self._jobs.get(event.job_id)
            # Updates of one job share a partition, but a replayed older one must not win.
            if current is None or event.occurred_at >= current.occurred_at:
                _put(self._jobs, event.job_id, event, self._history)

    def _tombstone(self, topic: str, key: bytes | None) -> None:
        # training.jobs is compacted: a tombstone erases a job; elsewhere it carries nothing.
        if topic == JOBS and key is not None:
            self._jobs.pop(key.decode("utf-8", errors="replace"), None)
        else:
            self._skipped["malformed"] += 1


def _put(store: OrderedDict[K, V], key: K, value: V, limit: int) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > limit:
        store.popitem(last=False)


def _occurred(event: ModelActivation | TrainingJobUpdate) -> datetime:
    return event.occurred_at
