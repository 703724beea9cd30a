"""The gateway's REST API (FastAPI; OpenAPI docs at ``/docs``).

Terminal endpoints: ``POST /challenges``, ``POST /verify`` (the synchronous path for terminals
without Kafka: same engine, same decision log as the consumer). Admin endpoints (``X-API-Key``):
``POST /enroll``, ``DELETE /users/{id}``, and the original note's ``/api/export_training_data``,
``/api/import_model`` (signed and published when this gateway holds a publisher key) and
``/api/model_performance``; the model registry: ``GET /api/models`` and
``POST /api/models/{name}/rollback``. Operations: ``/healthz``, ``/readyz``,
``/metrics``. Every error is JSON: ``{"error": code, "message": text}``.
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from auth_gateway.enrolment import EnrolmentError, EnrolmentResult, Upload
from auth_gateway.erasure import erase_user
from auth_gateway.gateway import Gateway
from core.registry import ModelRejected, NothingToRollBack, VersionExists, describe
from schemas import AuthAttempt, AuthDecision, MediaRef, ModelActivation, TrainingSampleCaptured

PRODUCER = "auth-gateway"
IDENTIFIER = re.compile(r"^[A-Za-z0-9._:@+-]{1,128}$")
MODEL_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)
# (offset, magic bytes) pairs that must all match; WAV and WebP share the RIFF container.
Magic = tuple[tuple[int, bytes], ...]
IMAGE_MAGIC: dict[Magic, str] = {
    ((0, b"\xff\xd8\xff"),): "image/jpeg",
    ((0, b"\x89PNG\r\n\x1a\n"),): "image/png",
    ((0, b"RIFF"), (8, b"WEBP")): "image/webp",
}
AUDIO_MAGIC: dict[Magic, str] = {
    ((0, b"RIFF"), (8, b"WAVE")): "audio/wav",
    ((0, b"fLaC"),): "audio/flac",
    ((0, b"OggS"),): "audio/ogg",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class ChallengeRequest(BaseModel):
    user_id: str
    terminal_id: str


class ChallengeResponse(BaseModel):
    challenge_id: str
    digits: str
    expires_at: str


class VerifyResponse(BaseModel):
    decision: AuthDecision
    session_id: str | None


def _sniff(data: bytes, table: dict[Magic, str]) -> str | None:
    """The media type the content says it is; the client's declared type is not trusted."""
    for parts, kind in table.items():
        if all(data[at : at + len(magic)] == magic for at, magic in parts):
            return kind
    return None


def _check_id(value: str, what: str) -> str:
    if not IDENTIFIER.match(value):
        raise ApiError(422, "invalid_identifier", f"{what} must match {IDENTIFIER.pattern}")
    return value


async def _read_upload(
    upload: UploadFile, limit: int, table: dict[Magic, str], what: str
) -> Upload:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "too_large", f"{what} is larger than {limit} bytes")
    if not data:
        raise ApiError(422, "empty_upload", f"{what} is empty")
    kind = _sniff(data, table)
    if kind is None:
        accepted = ", ".join(sorted(set(table.values())))
        raise ApiError(415, "unsupported_media", f"{what} is not one of: {accepted}")
    return Upload(data=data, content_type=kind)


def current_gateway(request: Request) -> Gateway:
    gateway: Gateway | None = request.app.state.gateway_ref()
    if gateway is None:
        raise ApiError(503, "starting", "the gateway is still loading its models")
    return gateway


Gw = Annotated[Gateway, Depends(current_gateway)]


def require_admin(gw: Gw, x_api_key: Annotated[str | None, Header()] = None) -> None:
    expected = gw.admin_key
    if expected is None:
        raise ApiError(503, "admin_disabled", "no admin API key is configured")
    if x_api_key is None or not hmac.compare_digest(
        x_api_key.encode(), expected.get_secret_value().encode()
    ):
        raise ApiError(401, "unauthorized", "a valid X-API-Key header is required")


Admin = Depends(require_admin)


def create_app(gateway_ref: Callable[[], Gateway | None]) -> FastAPI:
    """The app reads the gateway through ``gateway_ref``: it exists once the engines loaded."""
    app = FastAPI(
        title="KibaLock gateway",
        description="Voice + face login: challenges, verification, enrolment, erasure, models.",
        version="0.1.0",
    )
    app.state.gateway_ref = gateway_ref

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.code, "message": exc.message, **exc.extra}, status_code=exc.status
        )

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": "http_error", "message": str(exc.detail)}, status_code=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [".".join(str(p) for p in err["loc"]) for err in exc.errors()]
        return JSONResponse(
            {"error": "invalid_request", "message": f"invalid or missing: {', '.join(fields)}"},
            status_code=422,
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        gw = gateway_ref()
        checks: dict[str, str] = {"engines": "loaded" if gw else "loading"}
        if gw is not None:
            for name, probe in (
                ("mongo", lambda: gw.db.command("ping")),
                ("objects", gw.objects.list_buckets),
            ):
                try:
                    await probe()
                    checks[name] = "ok"
                except Exception as exc:
                    checks[name] = f"error: {type(exc).__name__}"
        ready = all(v in {"ok", "loaded"} for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/challenges", response_model=ChallengeResponse)
    async def challenges(body: ChallengeRequest, gw: Gw) -> ChallengeResponse:
        _check_id(body.user_id, "user_id")
        _check_id(body.terminal_id, "terminal_id")
        challenge = await gw.challenges.issue(body.user_id, body.terminal_id)
        return ChallengeResponse(
            challenge_id=challenge.challenge_id,
            digits=challenge.digits,
            expires_at=challenge.expires_at.isoformat(),
        )

    @app.post("/verify", response_model=VerifyResponse)
    async def verify(
        gw: Gw,
        user_id: Annotated[str, Form()],
        terminal_id: Annotated[str, Form()],
        challenge_id: Annotated[str | None, Form()] = None,
        face: Annotated[UploadFile | None, File()] = None,
        voice: Annotated[UploadFile | None, File()] = None,
    ) -> VerifyResponse:
        _check_id(user_id, "user_id")
        _check_id(terminal_id, "terminal_id")
        if face is None and voice is None:
            raise ApiError(422, "no_media", "send a face photo, a voice clip, or both")
        limit = gw.settings.gateway.max_upload_bytes
        attempt_id = uuid.uuid4().hex
        refs: dict[str, MediaRef] = {}
        bucket = gw.objects.bucket("samples")
        for name, upload, table in (("face", face, IMAGE_MAGIC), ("voice", voice, AUDIO_MAGIC)):
            if upload is None:
                continue
            sample = await _read_upload(upload, limit, table, name)
            refs[name] = await gw.objects.put_bytes(
                bucket, f"{user_id}/{attempt_id}/{name}", sample.data, sample.content_type
            )
        attempt = AuthAttempt(
            producer=PRODUCER,
            attempt_id=attempt_id,
            terminal_id=terminal_id,
            user_id=user_id,
            challenge_id=challenge_id,
            face=refs.get("face"),
            voice=refs.get("voice"),
        )
        handled = await gw.handle_attempt(attempt)
        return VerifyResponse(
            decision=handled.decision,
            session_id=handled.session.session_id if handled.session else None,
        )

    @app.post("/enroll", response_model=EnrolmentResult, dependencies=[Admin])
    async def enroll(
        gw: Gw,
        user_id: Annotated[str, Form()],
        faces: Annotated[list[UploadFile], File()],
        voices: Annotated[list[UploadFile], File()],
    ) -> EnrolmentResult:
        _check_id(user_id, "user_id")
        limit = gw.settings.gateway.max_upload_bytes
        face_uploads = [
            await _read_upload(f, limit, IMAGE_MAGIC, f"faces[{i}]") for i, f in enumerate(faces)
        ]
        voice_uploads = [
            await _read_upload(v, limit, AUDIO_MAGIC, f"voices[{i}]") for i, v in enumerate(voices)
        ]
        try:
            return await gw.enroller.enroll(user_id, face_uploads, voice_uploads)
        except EnrolmentError as exc:
            raise ApiError(
                422,
                "enrolment_rejected",
                str(exc),
                rejected=[r.model_dump() for r in exc.rejected],
            ) from exc

    @app.delete("/users/{user_id}", dependencies=[Admin])
    async def delete_user(user_id: str, gw: Gw) -> dict[str, Any]:
        _check_id(user_id, "user_id")
        removed = await erase_user(
            user_id,
            db=gw.db,
            objects=gw.objects,
            log=gw.log,
            stores=[
                gw.templates,
                gw.enroller,
                gw.sessions,
                gw.challenges,
                gw.replay,
                gw.lockouts,
                gw.capture,
            ],
        )
        return {"user_id": user_id, "removed": removed}

    @app.post("/api/export_training_data", dependencies=[Admin])
    async def export_training_data(gw: Gw, user_id: str, limit: int = 100) -> dict[str, Any]:
        _check_id(user_id, "user_id")
        if not 1 <= limit <= 1000:
            raise ApiError(422, "invalid_limit", "limit must be between 1 and 1000")
        samples: list[TrainingSampleCaptured] = await gw.capture.samples_of(user_id, limit)
        return {"samples": [s.model_dump(mode="json") for s in samples], "count": len(samples)}

    @app.post("/api/import_model", dependencies=[Admin])
    async def import_model(
        gw: Gw,
        model_file: Annotated[UploadFile, File()],
        name: Annotated[str, Form()],
        version: Annotated[str, Form()],
    ) -> dict[str, Any]:
        # The client's file name is never used for storage: the key is built from a validated
        # model name and semver version only (the original note wrote ~/kibalock/models/{filename}).
        filename = model_file.filename or ""
        if "/" in filename or "\\" in filename or ".." in filename:
            raise ApiError(422, "invalid_filename", "the file name must not contain a path")
        if not MODEL_NAME.match(name):
            raise ApiError(422, "invalid_model_name", f"name must match {MODEL_NAME.pattern}")
        if not SEMVER.match(version):
            raise ApiError(422, "invalid_version", "version must be a semantic version (1.2.3)")
        data = await model_file.read(gw.settings.gateway.max_upload_bytes * 20 + 1)
        if len(data) > gw.settings.gateway.max_upload_bytes * 20:
            raise ApiError(413, "too_large", "the model file is too large")
        _check_onnx(data)
        key = f"{name}/{version}/model.onnx"
        bucket = gw.objects.bucket("models")
        if await gw.objects.exists(bucket, key):
            raise ApiError(409, "version_exists", f"{name} {version} already exists")
        publisher = gw.settings.models.publisher
        if not publisher.configured:
            # No publisher key on this gateway: the file waits as an artifact for a publisher.
            ref = await gw.objects.put_bytes(bucket, key, data, "application/onnx")
            return {"status": "imported", "artifact": ref.model_dump(), "state": "candidate"}
        # Signed, registered and announced: every gateway instance then checks it like a
        # trained version and activates or rejects it.
        try:
            event = await gw.swapper.registry.publish(
                data, describe(data, name, version), publisher.signer(), gw.producer, by=PRODUCER
            )
        except ModelRejected as exc:
            raise ApiError(422, "invalid_model", exc.detail) from exc
        except VersionExists as exc:
            raise ApiError(409, "version_exists", str(exc)) from exc
        return {
            "status": "published",
            "artifact": event.artifact.model_dump(),
            "state": "candidate",
        }

    @app.get("/api/models", dependencies=[Admin])
    async def models(gw: Gw) -> dict[str, Any]:
        """The registry's versions, and what this instance serves and keeps warm."""
        records = await gw.swapper.registry.versions()
        return {
            "registry": [r.model_dump(mode="json", exclude={"history"}) for r in records],
            "serving": gw.swapper.current().versions(),
            "rollback_targets": gw.swapper.previous(),
            "instance_id": gw.swapper.instance_id,
        }

    @app.post("/api/models/{name}/rollback", dependencies=[Admin])
    async def rollback(name: str, gw: Gw) -> ModelActivation:
        """Back to the version the active one replaced; every instance follows."""
        if not MODEL_NAME.match(name):
            raise ApiError(422, "invalid_model_name", f"name must match {MODEL_NAME.pattern}")
        try:
            return await gw.swapper.rollback(name, "manual", "rolled back through the API")
        except NothingToRollBack as exc:
            raise ApiError(409, "nothing_to_roll_back", str(exc)) from exc

    @app.get("/api/model_performance", dependencies=[Admin])
    async def model_performance(gw: Gw, model_name: str) -> dict[str, Any]:
        if not MODEL_NAME.match(model_name):
            raise ApiError(422, "invalid_model_name", f"model_name must match {MODEL_NAME.pattern}")
        return {"model": model_name, "versions": await gw.log.performance(model_name)}

    return app


def _check_onnx(data: bytes) -> None:
    import onnx

    try:
        model = onnx.load_model_from_string(data)
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ApiError(422, "invalid_model", f"not a valid ONNX model: {exc}") from exc
