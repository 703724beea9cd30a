"""The terminal SDK: what a login terminal does, over the same contracts as production.

A terminal asks the gateway for a spoken challenge (REST), uploads the captured face and voice
to the samples bucket (claim-check: media never travel on Kafka), then emits an
``auth.attempts`` event that names them by ``s3://`` reference and sha256. Later it may emit
``auth.feedback`` with the ground truth (e.g. the person passed a fallback factor).
"""

from __future__ import annotations

import uuid

import httpx
from pydantic import BaseModel, SecretStr

from core.bus import EventProducer
from core.objectstore import ObjectStore
from schemas import AuthAttempt, AuthFeedback, MediaRef
from schemas.enums import FeedbackLabel, FeedbackSource, Language
from schemas.keys import attempt_media_key


class IssuedChallenge(BaseModel):
    challenge_id: str
    digits: str
    expires_at: str


class Capture(BaseModel):
    face: bytes | None = None
    voice: bytes | None = None
    face_type: str = "image/jpeg"
    voice_type: str = "audio/wav"


class Terminal:
    def __init__(
        self,
        terminal_id: str,
        *,
        producer: EventProducer,
        objects: ObjectStore,
        gateway_url: str,
        key: SecretStr,
        language: Language = Language.EN,
    ) -> None:
        self.terminal_id = terminal_id
        self.language = language  # what its challenges are said in, unless a login picks one
        self._producer = producer
        self._objects = objects
        # The terminal's own key (`kibalock gateway terminal-key ID`), sent on every request.
        self._http = httpx.AsyncClient(
            base_url=gateway_url,
            timeout=30,
            headers={"X-Terminal-Key": key.get_secret_value()},
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def challenge(self, user_id: str, language: Language | None = None) -> IssuedChallenge:
        response = await self._http.post(
            "/challenges",
            json={
                "user_id": user_id,
                "terminal_id": self.terminal_id,
                "language": language or self.language,
            },
        )
        response.raise_for_status()
        return IssuedChallenge.model_validate(response.json())

    async def upload(
        self, user_id: str, attempt_id: str, name: str, data: bytes, kind: str
    ) -> MediaRef:
        bucket = self._objects.bucket("samples")
        return await self._objects.put_bytes(
            bucket, attempt_media_key(user_id, attempt_id, name), data, kind
        )

    async def attempt(
        self, user_id: str, capture: Capture, challenge_id: str | None
    ) -> AuthAttempt:
        """Uploads the capture and emits the attempt; returns the event sent."""
        attempt_id = uuid.uuid4().hex
        face = voice = None
        if capture.face is not None:
            face = await self.upload(user_id, attempt_id, "face", capture.face, capture.face_type)
        if capture.voice is not None:
            voice = await self.upload(
                user_id, attempt_id, "voice", capture.voice, capture.voice_type
            )
        event = AuthAttempt(
            producer=f"terminal-{self.terminal_id}",
            attempt_id=attempt_id,
            terminal_id=self.terminal_id,
            user_id=user_id,
            challenge_id=challenge_id,
            face=face,
            voice=voice,
        )
        await self._producer.publish(event)
        return event

    async def replay(self, previous: AuthAttempt, challenge_id: str | None) -> AuthAttempt:
        """An attack: the byte-identical media of an earlier attempt, sent again."""
        event = previous.model_copy(
            update={
                "event_id": uuid.uuid4(),
                "attempt_id": uuid.uuid4().hex,
                "challenge_id": challenge_id,
            }
        )
        await self._producer.publish(event)
        return event

    async def feedback(
        self, attempt: AuthAttempt, label: FeedbackLabel, source: FeedbackSource
    ) -> AuthFeedback:
        event = AuthFeedback(
            producer=f"terminal-{self.terminal_id}",
            attempt_id=attempt.attempt_id,
            user_id=attempt.user_id,
            terminal_id=self.terminal_id,
            label=label,
            source=source,
        )
        await self._producer.publish(event)
        return event
