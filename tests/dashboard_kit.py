"""Dashboard test helpers: the events its feed reads, built with chosen figures, and a backend
that serves them to the pages without Kafka or MongoDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from dashboard.backend import StoreUnavailable
from dashboard.feed_state import FeedSnapshot, FeedState
from dashboard.stores import StoreFigures
from dashboard.trainer_api import TrainerApi
from dashboard.uploads import Upload
from schemas import (
    ActivationStatus,
    JobStage,
    JobState,
    MetricCounts,
    MetricDimension,
    MetricWindow,
    ModelActivation,
    TrainingJobUpdate,
    WindowKind,
)

if TYPE_CHECKING:
    from trainer.importer import ImportOutcome

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
API_KEY = "dashboard-test-admin-key"


def window(
    minute: int,
    *,
    dimension: MetricDimension = MetricDimension.GLOBAL,
    value: str | None = None,
    genuine: int = 40,
    impostor: int = 10,
    false_rejects: int = 0,
    false_accepts: int = 0,
    attempts: int | None = None,
    kind: WindowKind = WindowKind.TUMBLING,
) -> MetricWindow:
    """A one-minute window ending ``minute`` minutes after :data:`T0`, its rates from its
    counts."""
    end = T0 + timedelta(minutes=minute)
    labelled = genuine + impostor
    errors = false_rejects + false_accepts
    return MetricWindow(
        occurred_at=end,
        producer="stream_processors",
        metric_id=f"auth:{kind.value}:60s:{dimension.value}:{value or ''}".rstrip(":"),
        window_start=end - timedelta(minutes=1),
        window_end=end,
        window_kind=kind,
        window_size_s=60,
        dimension=dimension,
        dimension_value=value,
        counts=MetricCounts(
            attempts=labelled if attempts is None else attempts,
            labelled=labelled,
            genuine=genuine,
            impostor=impostor,
            false_accepts=false_accepts,
            false_rejects=false_rejects,
        ),
        accuracy=(labelled - errors) / labelled if labelled else None,
        far=false_accepts / impostor if impostor else None,
        frr=false_rejects / genuine if genuine else None,
    )


def activation(
    minute: int,
    model: str,
    version: str,
    status: ActivationStatus = ActivationStatus.ACTIVATED,
    *,
    previous: str | None = None,
    reason: str | None = None,
    instance: str = "gw-1",
) -> ModelActivation:
    return ModelActivation(
        occurred_at=T0 + timedelta(minutes=minute),
        producer="auth_gateway",
        model=model,
        model_version=version,
        status=status,
        reason=reason,
        previous_version=previous,
        instance_id=instance,
    )


def job(
    minute: int,
    job_id: str,
    state: JobState = JobState.RUNNING,
    *,
    stage: JobStage = JobStage.TRAINING,
    progress: float = 0.5,
    model: str = "voice-embedder",
    **extra: Any,
) -> TrainingJobUpdate:
    return TrainingJobUpdate(
        occurred_at=T0 + timedelta(minutes=minute),
        producer="trainer",
        job_id=job_id,
        model=model,
        state=state,
        stage=stage,
        progress=progress,
        **extra,
    )


@dataclass
class FakeBackend:
    """The pages' backend over a :class:`FeedState` the test fills; ``figures`` None plays a
    MongoDB that does not answer. Imports are recorded and answered with ``outcome``."""

    trainer: TrainerApi
    state: FeedState = field(default_factory=lambda: FeedState(1000))
    figures: StoreFigures | None = field(default_factory=lambda: StoreFigures(users=0, models=[]))
    admin_key: SecretStr | None = field(default_factory=lambda: SecretStr(API_KEY))
    # Long enough that no fragment reruns by itself during a test.
    refresh_s: float = 3600.0
    max_upload_mb: int = 5
    outcome: ImportOutcome | Exception | None = None
    imports: list[tuple[list[Upload], str | None, str | None]] = field(default_factory=list)

    def feed(self) -> FeedSnapshot:
        return self.state.snapshot()

    def store_figures(self) -> StoreFigures:
        if self.figures is None:
            raise StoreUnavailable("MongoDB did not answer: TimeoutError()")
        return self.figures

    def import_uploads(
        self, uploads: list[Upload], *, user_id: str | None, source: str | None
    ) -> ImportOutcome:
        self.imports.append((uploads, user_id, source))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        assert self.outcome is not None, "the test set no import outcome"
        return self.outcome
