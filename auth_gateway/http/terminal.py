"""What a login terminal calls: ``POST /challenges``, then ``POST /verify``.

``/verify`` is the synchronous path for terminals without Kafka: the same engine and decision
log as the ``auth.attempts`` consumer. Both need the terminal's own key (``X-Terminal-Key``),
checked before anything is stored; the answer says only the outcome and what to do next
(:mod:`auth_gateway.terminal_view`), never scores or reasons.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, UploadFile
from pydantic import BaseModel, ConfigDict, Field, model_validator

from auth_gateway.challenges import TooManyChallenges
from auth_gateway.handlers import verify_attempt
from auth_gateway.http.deps import STARTING, TERMINAL_ERRORS, Gw, TerminalKey, require_terminal
from auth_gateway.http.uploads import (
    AUDIO_MAGIC,
    IMAGE_MAGIC,
    MULTIPART,
    MultipartForm,
    media_types,
    part_types,
    read_upload,
)
from auth_gateway.terminal_view import NextStep, next_step
from core.http.errors import INVALID_REQUEST, MALFORMED_BODY, ApiError, error_responses
from core.objectstore import media_ref
from schemas import AuthAttempt, MediaRef
from schemas.catalog import AUTH_GATEWAY
from schemas.enums import Language, Outcome
from schemas.fields import Identifier
from schemas.keys import attempt_media_key
from schemas.model_catalog import Modality

router = APIRouter(tags=["terminal"], responses=error_responses({503: STARTING}))


class ChallengeRequest(BaseModel):
    user_id: Identifier
    terminal_id: Identifier
    language: Language = Field(
        default=Language.EN, description="the language the person will say the digits in"
    )


class ChallengeResponse(BaseModel):
    challenge_id: Identifier
    digits: str = Field(pattern=r"^[0-9]+$", description="what the person must say")
    expires_at: datetime


def _face_or_voice(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [{"required": ["face"]}, {"required": ["voice"]}]


class VerifyForm(MultipartForm):
    model_config = ConfigDict(json_schema_extra=_face_or_voice)

    user_id: Identifier = Field(description="the user the person claims to be")
    terminal_id: Identifier
    challenge_id: Identifier | None = Field(
        default=None, description="from `POST /challenges`; without it the attempt is refused"
    )
    face: UploadFile | None = Field(
        default=None, description=f"a photo of the face ({media_types(IMAGE_MAGIC)})"
    )
    voice: UploadFile | None = Field(
        default=None, description=f"the challenge digits spoken ({media_types(AUDIO_MAGIC)})"
    )

    @model_validator(mode="after")
    def _some_media(self) -> VerifyForm:
        if self.face is None and self.voice is None:
            raise ValueError("send a face photo, a voice clip, or both")
        return self


class VerifyResponse(BaseModel):
    attempt_id: Identifier = Field(description="to quote to an administrator or in feedback")
    outcome: Outcome
    next_step: NextStep = Field(
        description="`done` when accepted; otherwise what the person can do (`not_recognised`"
        " never says why: unknown, locked and mismatched users look the same)"
    )
    session_id: str | None = Field(description="set when the attempt is accepted")


@router.post(
    "/challenges",
    responses=error_responses(
        {
            400: MALFORMED_BODY,
            422: INVALID_REQUEST,
            429: "`too_many_challenges`: this terminal asked for too many this minute",
            **TERMINAL_ERRORS,
        }
    ),
)
async def issue_challenge(
    body: ChallengeRequest, gw: Gw, terminal_key: TerminalKey
) -> ChallengeResponse:
    """Digits for the person to say at the terminal, bound to the user and the terminal."""
    require_terminal(gw, body.terminal_id, terminal_key)
    try:
        challenge = await gw.challenges.issue(body.user_id, body.terminal_id, body.language)
    except TooManyChallenges as exc:
        raise ApiError(429, "too_many_challenges", str(exc)) from exc
    return ChallengeResponse(
        challenge_id=challenge.challenge_id,
        digits=challenge.digits,
        expires_at=challenge.expires_at,
    )


@router.post(
    "/verify",
    responses=error_responses(
        {
            400: MALFORMED_BODY,
            413: "`too_large`: a file is larger than the gateway's upload limit",
            415: "`unsupported_media`: a file's content is not one of the accepted media types",
            422: f"{INVALID_REQUEST}; `empty_upload`: a file is empty; `invalid_media`: a"
            " file's header says it cannot be decoded within the gateway's limits (pixels,"
            " channels, sample rate, length)",
            **TERMINAL_ERRORS,
        }
    ),
    openapi_extra=part_types(face=media_types(IMAGE_MAGIC), voice=media_types(AUDIO_MAGIC)),
)
async def verify(
    form: Annotated[VerifyForm, Form(media_type=MULTIPART)], gw: Gw, terminal_key: TerminalKey
) -> VerifyResponse:
    """A login attempt, decided: accepted (with a session), refused, or to be captured again.

    The media are stored (for the decision log, feedback and training capture) only once the
    cheap checks pass: a malformed upload is refused with a 4xx, and an attempt refused before
    its media would be read (a locked user, an unusable challenge) is decided and logged with
    refs naming what was presented, with nothing stored at them.
    """
    require_terminal(gw, form.terminal_id, terminal_key)
    limit = gw.settings.gateway.max_upload_bytes
    uploads = {
        modality: await read_upload(upload, limit, table, modality.value)
        for modality, upload, table in (
            (Modality.FACE, form.face, IMAGE_MAGIC),
            (Modality.VOICE, form.voice, AUDIO_MAGIC),
        )
        if upload is not None
    }
    for modality, sample in uploads.items():
        problem = gw.analyser.header_problem(modality, sample.data)
        if problem is not None:
            raise ApiError(422, "invalid_media", f"{modality.value}: {problem}")
    attempt_id = uuid.uuid4().hex
    bucket = gw.objects.bucket("samples")
    keys = {m: attempt_media_key(form.user_id, attempt_id, m.value) for m in uploads}
    refs: dict[Modality, MediaRef] = {
        m: media_ref(bucket, keys[m], sample.data, sample.content_type)
        for m, sample in uploads.items()
    }
    attempt = AuthAttempt(
        producer=AUTH_GATEWAY,
        attempt_id=attempt_id,
        terminal_id=form.terminal_id,
        user_id=form.user_id,
        challenge_id=form.challenge_id,
        face=refs.get(Modality.FACE),
        voice=refs.get(Modality.VOICE),
    )
    if not await gw.verifier.refused_before_media(attempt):
        for modality, sample in uploads.items():
            await gw.objects.put_bytes(bucket, keys[modality], sample.data, sample.content_type)
    handled = await verify_attempt(gw, attempt)
    return VerifyResponse(
        attempt_id=attempt_id,
        outcome=handled.decision.outcome,
        next_step=next_step(handled.decision),
        session_id=handled.session.session_id if handled.session else None,
    )
