"""Admin routes (``X-API-Key``): enrolment, erasure, training data, model import, performance."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, UploadFile
from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from auth_gateway.enrolment import EnrolmentError, EnrolmentResult
from auth_gateway.http.deps import ADMIN_ERRORS, Gw, require_admin
from auth_gateway.http.uploads import (
    AUDIO_MAGIC,
    IMAGE_MAGIC,
    MODEL_UPLOAD_FACTOR,
    MULTIPART,
    MultipartForm,
    media_types,
    part_types,
    read_upload,
)
from core.http.errors import INVALID_REQUEST, MALFORMED_BODY, ApiError, error_responses
from core.registry import SLOTS, ModelRejected, VersionExists, store_candidate
from core.registry.store import ONNX_CONTENT_TYPE
from schemas import MediaRef, TrainingSampleCaptured
from schemas.fields import Identifier, ModelName, SemVer
from schemas.model_catalog import FACE_EMBEDDER

router = APIRouter(
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=error_responses(ADMIN_ERRORS),
)


class EnrolForm(MultipartForm):
    user_id: Identifier
    faces: list[UploadFile] = Field(
        min_length=1, description=f"photos of the face ({media_types(IMAGE_MAGIC)})"
    )
    voices: list[UploadFile] = Field(
        min_length=1, description=f"voice clips ({media_types(AUDIO_MAGIC)})"
    )


class Erasure(BaseModel):
    user_id: Identifier
    removed: dict[str, int] = Field(description="how many records or objects each store removed")


class TrainingExport(BaseModel):
    samples: list[TrainingSampleCaptured]
    count: int


def _swappable(name: str) -> str:
    if name not in SLOTS:
        raise ValueError(f"{name} is not a swappable model ({', '.join(sorted(SLOTS))})")
    return name


# The document names the models that can be imported, so a fuzzer (or a client) knows them.
SwappableName = Annotated[
    ModelName,
    AfterValidator(_swappable),
    WithJsonSchema({"type": "string", "enum": sorted(SLOTS)}),
]


class ImportForm(MultipartForm):
    model_file: UploadFile = Field(description="an ONNX model; its file name must not be a path")
    name: SwappableName
    version: SemVer


class ImportedModel(BaseModel):
    status: Literal["imported"]
    artifact: MediaRef = Field(description="where the file waits for a publisher's signature")
    state: Literal["unsigned_candidate"] = Field(
        description="`kibalock models sign NAME VERSION --operating-point FILE` publishes it"
    )


class VersionPerformance(BaseModel):
    decisions: int
    outcomes: dict[str, int]
    accept_rate: float
    mean_fused_score: float | None
    latency_ms_p50: float


class ModelPerformance(BaseModel):
    model: ModelName
    versions: dict[str, VersionPerformance]


@router.post(
    "/enroll",
    responses=error_responses(
        {
            400: MALFORMED_BODY,
            413: "`too_large`: a file is larger than the gateway's upload limit",
            415: "`unsupported_media`: a file's content is not one of the accepted media types",
            422: f"{INVALID_REQUEST}; `empty_upload`: a file is empty; "
            "`enrolment_rejected`: too few usable samples (`rejected` says which and why)",
        }
    ),
    openapi_extra=part_types(faces=media_types(IMAGE_MAGIC), voices=media_types(AUDIO_MAGIC)),
)
async def enroll(form: Annotated[EnrolForm, Form(media_type=MULTIPART)], gw: Gw) -> EnrolmentResult:
    """A user's templates from face photos and voice clips (replacing any earlier enrolment)."""
    limit = gw.settings.gateway.max_upload_bytes
    faces = [
        await read_upload(f, limit, IMAGE_MAGIC, f"faces[{i}]") for i, f in enumerate(form.faces)
    ]
    voices = [
        await read_upload(v, limit, AUDIO_MAGIC, f"voices[{i}]") for i, v in enumerate(form.voices)
    ]
    try:
        return await gw.enroller.enroll(form.user_id, faces, voices)
    except EnrolmentError as exc:
        raise ApiError(
            422, "enrolment_rejected", str(exc), rejected=[r.model_dump() for r in exc.rejected]
        ) from exc


@router.delete("/users/{user_id}", responses=error_responses({422: INVALID_REQUEST}))
async def erase_user(user_id: Identifier, gw: Gw) -> Erasure:
    """The right to erasure: the user's templates, samples, sessions and records, everywhere."""
    return Erasure(user_id=user_id, removed=await gw.erase_user(user_id))


@router.post("/api/export_training_data", responses=error_responses({422: INVALID_REQUEST}))
async def export_training_data(
    gw: Gw, user_id: Identifier, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> TrainingExport:
    """The user's most recent training samples, newest first."""
    samples = await gw.capture.samples_of(user_id, limit)
    return TrainingExport(samples=samples, count=len(samples))


@router.post(
    "/api/import_model",
    responses=error_responses(
        {
            400: MALFORMED_BODY,
            409: "`version_exists`: this name and version exist already",
            413: "`too_large`: the model file is too large",
            422: f"{INVALID_REQUEST}; `invalid_filename`: the file name is a path; "
            "`invalid_model`: not a valid ONNX model",
        }
    ),
    openapi_extra=part_types(model_file=ONNX_CONTENT_TYPE),
)
async def import_model(
    form: Annotated[ImportForm, Form(media_type=MULTIPART)], gw: Gw
) -> ImportedModel:
    """A model version stored as an *unsigned candidate*: nothing loads it until a publisher
    signs it (``kibalock models sign NAME VERSION``, where the signing key lives)."""
    # The client's file name is never used for storage: the key is built from a validated
    # model name and semver version only.
    filename = form.model_file.filename or ""
    if "/" in filename or "\\" in filename or ".." in filename:
        raise ApiError(422, "invalid_filename", "the file name must not contain a path")
    limit = gw.settings.gateway.max_upload_bytes * MODEL_UPLOAD_FACTOR
    data = await form.model_file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "too_large", "the model file is too large")
    try:
        ref = await store_candidate(gw.objects, form.name, form.version, data)
    except ModelRejected as exc:
        raise ApiError(422, "invalid_model", exc.detail) from exc
    except VersionExists as exc:
        raise ApiError(409, "version_exists", str(exc)) from exc
    return ImportedModel(status="imported", artifact=ref, state="unsigned_candidate")


@router.get("/api/model_performance", responses=error_responses({422: INVALID_REQUEST}))
async def model_performance(
    gw: Gw, model_name: Annotated[ModelName, Query(examples=[FACE_EMBEDDER])]
) -> ModelPerformance:
    """Per version of the model: decisions by outcome, accept rate, mean score, latency."""
    versions = await gw.decisions.performance(model_name)
    return ModelPerformance.model_validate({"model": model_name, "versions": versions})
