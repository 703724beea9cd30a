"""Training jobs: what a job is, how triggers coalesce into one, and how its state may move.

Pure rules, no I/O: the store (``job_store.py``) and the service apply them. A job is identified
by ``job_id``; at most one *open* job (queued or running) exists per :func:`job_key`, so a
duplicate trigger, or a trigger for a model already training, joins that job instead of starting
another one.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.enums import JobStage, JobState, RetrainReason
from schemas.fields import Code, Identifier, ModelName, SemVer, Text

# A job may move only along these edges; anything else is a bug or a stale writer.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.FAILED}),
    JobState.RUNNING: frozenset(
        {
            JobState.RUNNING,
            JobState.SUCCEEDED,
            JobState.SUCCEEDED_NOT_PROMOTED,
            JobState.FAILED,
            # a lease that expired with its trainer is handed back to the queue
            JobState.QUEUED,
        }
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.SUCCEEDED_NOT_PROMOTED: frozenset(),
    JobState.FAILED: frozenset(),
}


class IllegalTransition(ValueError):
    """A job asked to move along an edge :data:`TRANSITIONS` does not have."""


def check_transition(current: JobState, new: JobState) -> None:
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"a {current.value} job cannot become {new.value}")


class JobRequest(BaseModel):
    """What to train, from a trigger or from ``POST /api/retrain_request``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelName
    reason: RetrainReason
    user_id: Identifier | None = Field(default=None, description="set for a per-user job")
    source: Code = Field(
        default="curated",
        description="the data: curated (training bucket + enrolment) or imported (LifeModo import)",
    )
    trigger_id: Identifier | None = None
    requested_by: Identifier
    figures: dict[Code, float] = Field(default_factory=dict)


def job_key(request: JobRequest) -> str:
    """Requests with the same key share one open job (``model`` or ``model/user``)."""
    return request.model if request.user_id is None else f"{request.model}/{request.user_id}"


class Job(BaseModel):
    """A job as stored (collection ``training_jobs``, ``_id`` = job_id) and reported by the API."""

    model_config = ConfigDict(extra="forbid")

    job_id: Identifier
    key: str
    request: JobRequest
    trigger_ids: list[Identifier] = Field(default_factory=list)
    state: JobState = JobState.QUEUED
    stage: JobStage = JobStage.QUEUED
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    message: Text = ""
    metrics: dict[Code, float] = Field(default_factory=dict)
    # Lineage: the dataset snapshot the job trained on (object keys + sha256), by digest.
    snapshot_digest: str | None = None
    trained_version: SemVer | None = None
    result_version: SemVer | None = None
    attempts: int = Field(default=0, description="how many times a trainer started it")
    lease_owner: str | None = None
    lease_until: datetime | None = None
    created_at: datetime
    updated_at: datetime
