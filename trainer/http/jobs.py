"""Retrain requests and job status (``X-API-Key``), the original note's two endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from core.http.errors import INVALID_REQUEST, MALFORMED_BODY, ApiError, error_responses
from schemas.enums import JobStage, JobState, RetrainReason
from schemas.fields import Code, Identifier, ModelName, SemVer
from schemas.model_catalog import MODEL_CATALOG, VOICE_EMBEDDER
from schemas.training import JobActivation
from trainer.http.deps import ADMIN_ERRORS, Runtime, require_admin
from trainer.job_store import request_trigger_id
from trainer.jobs import Job, JobRequest

router = APIRouter(
    prefix="/api",
    tags=["jobs"],
    dependencies=[Depends(require_admin)],
    responses=error_responses(ADMIN_ERRORS),
)
TRAINABLE = sorted(name for name, spec in MODEL_CATALOG.items() if spec.trainable)
REQUESTED_BY = "trainer-api"


def _trainable(name: str) -> str:
    if name not in TRAINABLE:
        raise ValueError(f"{name} is not a trainable model ({', '.join(TRAINABLE)})")
    return name


TrainableName = Annotated[
    ModelName, AfterValidator(_trainable), WithJsonSchema({"type": "string", "enum": TRAINABLE})
]


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: TrainableName = Field(examples=[VOICE_EMBEDDER])
    user_id: Identifier | None = Field(default=None, description="train this user's own model")
    source: Literal["curated", "imported", "all"] = Field(
        default="curated",
        description="curated: the gateway's curated samples; imported: LifeModo imports; all:"
        " both (enrolment media always come too)",
    )
    reason: RetrainReason = RetrainReason.MANUAL


class RetrainAccepted(BaseModel):
    job_id: Identifier
    created: bool = Field(description="false: the request joined the open job of its model")
    state: JobState


class JobStatus(BaseModel):
    job_id: Identifier
    model: ModelName
    user_id: Identifier | None
    state: JobState
    stage: JobStage
    progress: float = Field(ge=0.0, le=1.0)
    message: str
    metrics: dict[Code, float]
    trained_version: SemVer | None = Field(description="the version trained, promoted or not")
    result_version: SemVer | None = Field(description="the version published (succeeded only)")
    activation: JobActivation | None = Field(
        description="what the gateways did with the version published (succeeded only)"
    )
    trigger_ids: list[Identifier]
    attempts: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: Job, activation: JobActivation | None) -> JobStatus:
        return cls(
            job_id=job.job_id,
            model=job.request.model,
            user_id=job.request.user_id,
            state=job.state,
            stage=job.stage,
            progress=job.progress,
            message=job.message,
            metrics=job.metrics,
            trained_version=job.trained_version,
            result_version=job.result_version,
            activation=activation,
            trigger_ids=job.trigger_ids,
            attempts=job.attempts,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


@router.post(
    "/retrain_request",
    status_code=202,
    responses=error_responses(
        {
            400: MALFORMED_BODY,
            413: "`too_large`: the body is larger than a retrain request can be",
            422: INVALID_REQUEST,
        }
    ),
)
async def retrain_request(body: RetrainRequest, runtime: Runtime) -> RetrainAccepted:
    """Queues a training job, or joins the open job of the same model (and user)."""
    request = JobRequest(
        model=body.model,
        reason=body.reason,
        user_id=body.user_id,
        source=body.source,
        trigger_id=request_trigger_id("api"),
        requested_by=REQUESTED_BY,
    )
    job, created = await runtime.service.submit(request)
    return RetrainAccepted(job_id=job.job_id, created=created, state=job.state)


@router.get(
    "/model_status/{job_id}",
    responses=error_responses({404: "`unknown_job`: no job has this id", 422: INVALID_REQUEST}),
)
async def model_status(job_id: Annotated[Identifier, Path()], runtime: Runtime) -> JobStatus:
    """A job's state, stage, progress, figures and versions, and whether the gateways activated
    (or rolled back) the version it published."""
    job = await runtime.store.get(job_id)
    if job is None:
        raise ApiError(404, "unknown_job", f"no training job {job_id}")
    return JobStatus.of(job, await runtime.store.activation(job))
