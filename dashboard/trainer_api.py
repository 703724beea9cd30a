"""A client of LifeModo's REST API: request a retrain, follow a job.

The models here are the dashboard's reading of the trainer's documented responses (the fields it
shows, others ignored), so the dashboard never imports the trainer's HTTP layer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError

from core.http.errors import ErrorBody
from core.settings import Settings
from schemas import JobStage, JobState
from schemas.fields import Identifier, ModelName, SemVer
from schemas.model_catalog import MODEL_CATALOG
from schemas.training import JobActivation

TRAINABLE = sorted(name for name, spec in MODEL_CATALOG.items() if spec.trainable)
DataSource = Literal["curated", "imported", "all"]
_JOB_ID: TypeAdapter[str] = TypeAdapter(Identifier)


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName
    source: DataSource = "curated"
    user_id: Identifier | None = None


class RetrainAccepted(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id: Identifier
    created: bool
    state: JobState


class JobStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id: Identifier
    model: ModelName
    user_id: Identifier | None = None
    state: JobState
    stage: JobStage
    progress: float = Field(ge=0.0, le=1.0)
    message: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    trained_version: SemVer | None = None
    result_version: SemVer | None = None
    activation: JobActivation | None = None
    updated_at: datetime


class TrainerError(Exception):
    """The trainer could not be reached, or refused: ``code`` says which (``unreachable``, or
    the API's own error code such as ``unknown_job``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def trainer_url(settings: Settings) -> str:
    return settings.dashboard.trainer_url or (
        f"http://{settings.trainer.host}:{settings.trainer.port}"
    )


class TrainerApi:
    def __init__(
        self, base_url: str, admin_key: SecretStr, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            headers={"X-API-Key": admin_key.get_secret_value()},
            timeout=10.0,
            transport=transport,
        )

    def request_retrain(self, request: RetrainRequest) -> RetrainAccepted:
        body = request.model_dump(mode="json", exclude_none=True)
        return RetrainAccepted.model_validate(self._call("POST", "/api/retrain_request", body))

    def job_status(self, job_id: str) -> JobStatus:
        try:
            job_id = _JOB_ID.validate_python(job_id)
        except ValidationError:
            # A typed id goes into the URL path: only an id's own characters may.
            raise TrainerError("invalid_job_id", f"{job_id!r} is not a job id") from None
        return JobStatus.model_validate(self._call("GET", f"/api/model_status/{job_id}"))

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, body: object | None = None) -> object:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise TrainerError("unreachable", f"{self._client.base_url}: {exc}") from exc
        if response.is_success:
            return response.json()
        try:
            error = ErrorBody.model_validate_json(response.content)
        except ValidationError:
            raise TrainerError(f"http_{response.status_code}", response.text[:200]) from None
        raise TrainerError(error.error, error.message)
