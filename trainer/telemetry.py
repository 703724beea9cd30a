"""The trainer's Prometheus metrics, in a registry of its own (nothing global)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.enums import JobState

# Jobs last from seconds (a small adapter) to an hour (a detector from scratch).
DURATION_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


class Telemetry:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.jobs = Gauge(
            "kibalock_training_jobs", "Training jobs in the store, by state.", ["state"], registry=r
        )
        self.finished = Counter(
            "kibalock_training_jobs_finished_total",
            "Jobs this process finished, by model and state.",
            ["model", "state"],
            registry=r,
        )
        self.duration = Histogram(
            "kibalock_training_job_seconds",
            "Wall time of the jobs this process ran, by model and final state.",
            ["model", "state"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )

    def set_jobs(self, counts: dict[JobState, int]) -> None:
        for state, count in counts.items():
            self.jobs.labels(state=state.value).set(count)

    def job_done(self, model: str, state: JobState, seconds: float | None) -> None:
        """A job ended; ``seconds`` is None when this process did not run it (recovered)."""
        self.finished.labels(model=model, state=state.value).inc()
        if seconds is not None:
            self.duration.labels(model=model, state=state.value).observe(seconds)
