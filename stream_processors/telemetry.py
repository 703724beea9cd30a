"""What a worker tells about itself: Prometheus metrics (its own registry, nothing global) and
the liveness /healthz reports."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from core.logging import get_logger

log = get_logger(__name__)

# Per-record handling is sub-millisecond to a few milliseconds; window closes take longer.
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, memory, open fds
        self.records = Counter(
            "kibalock_processor_records",
            "Input records by logical topic and result (handled, deadletter).",
            ["topic", "result"],
            registry=r,
        )
        self.join_steps = Counter(
            "kibalock_processor_join_steps",
            "Ground-truth join: opened, matched, replayed, duplicate, expired_*.",
            ["step"],
            registry=r,
        )
        self.observations = Counter(
            "kibalock_processor_observations",
            "Observations reaching the metrics stage, by kind and result (applied, duplicate, "
            "late).",
            ["kind", "result"],
            registry=r,
        )
        self.windows = Counter(
            "kibalock_processor_windows",
            "Metric windows emitted, by window kind.",
            ["kind"],
            registry=r,
        )
        self.triggers = Counter(
            "kibalock_processor_triggers", "Retrain triggers emitted.", ["reason"], registry=r
        )
        self.lockouts = Counter(
            "kibalock_processor_lockouts", "Locks emitted.", ["reason"], registry=r
        )
        self.handle_seconds = Histogram(
            "kibalock_processor_handle_seconds",
            "Time to handle one record, by stage (ingest, metrics).",
            ["stage"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.watermark = Gauge(
            "kibalock_processor_watermark_seconds",
            "Event-time watermark of the metrics stage (epoch seconds).",
            registry=r,
        )
        self.ready = Gauge("kibalock_processor_ready", "1 when /healthz reports ok.", registry=r)


class Liveness:
    """What /healthz needs from the agents: when they last handled a record, or crashed."""

    def __init__(self) -> None:
        self.last_record_wall: float | None = None
        # An agent that raised is restarted by faust's supervisor; until it handles a record
        # again, the worker is not healthy.
        self.last_crash_wall: float | None = None

    def handled(self) -> None:
        self.last_record_wall = time.time()

    @property
    def crashed(self) -> bool:
        return self.last_crash_wall is not None and (
            self.last_record_wall is None or self.last_record_wall < self.last_crash_wall
        )

    @contextmanager
    def watch(self, agent: str) -> Iterator[None]:
        """Wraps an agent's loop: records are guarded one by one, so what escapes is a bug or
        the broker; it is logged and re-raised for faust to restart the agent."""
        try:
            yield
        except Exception as exc:
            self.last_crash_wall = time.time()
            log.error("agent crashed; faust restarts it", agent=agent, error=repr(exc))
            raise
