"""Training-sample capture: the best genuine samples become LifeModo's training data.

Two ways in:
- an *accepted* attempt whose face and voice qualities both reach the threshold (0.95 by
  default, the original note's);
- an attempt that was *rejected* but later confirmed genuine by feedback (the person passed a
  fallback factor). Without this, a terminal whose samples drift away from the model could never
  produce the data needed to adapt to it.

Samples are copied from ``samples`` to ``training`` (``{user}/{attempt}/{modality}``), recorded
in ``training_samples`` (unique by sample_id = attempt_id, so redeliveries are no-ops) and
announced on ``training.samples``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from core.bus import EventProducer
from core.docstore import Database
from core.objectstore import ObjectStore
from schemas import AuthAttempt, MediaRef, TrainingSampleCaptured
from schemas.catalog import AUTH_GATEWAY
from schemas.enums import SampleOrigin
from schemas.keys import training_media_key

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "audio/wav": "wav", "audio/x-wav": "wav"}


class SampleCapture:
    def __init__(
        self, db: Database, objects: ObjectStore, producer: EventProducer, *, threshold: float
    ) -> None:
        self._coll = db["training_samples"]
        self._objects = objects
        self._producer = producer
        self.threshold = threshold

    def qualifies(self, face_quality: float | None, voice_quality: float | None) -> bool:
        return all(q is not None and q >= self.threshold for q in (face_quality, voice_quality))

    async def capture(
        self,
        attempt: AuthAttempt,
        media: dict[str, bytes],
        qualities: dict[str, float],
        origin: SampleOrigin,
    ) -> TrainingSampleCaptured | None:
        """Copies the attempt's media to the training bucket; None if it was captured before."""
        if await self._coll.find_one({"sample_id": attempt.attempt_id}) is not None:
            return None
        refs: dict[str, MediaRef] = {}
        for modality, ref in (("face", attempt.face), ("voice", attempt.voice)):
            if ref is None or modality not in media:
                continue
            ext = EXTENSIONS.get(ref.content_type, "bin")
            refs[modality] = await self._objects.put_bytes(
                self._objects.bucket("training"),
                training_media_key(attempt.user_id, attempt.attempt_id, modality, ext),
                media[modality],
                ref.content_type,
            )
        event = TrainingSampleCaptured(
            producer=AUTH_GATEWAY,
            sample_id=attempt.attempt_id,
            attempt_id=attempt.attempt_id,
            user_id=attempt.user_id,
            terminal_id=attempt.terminal_id,
            face=refs.get("face"),
            voice=refs.get("voice"),
            face_quality=qualities.get("face") if "face" in refs else None,
            voice_quality=qualities.get("voice") if "voice" in refs else None,
            origin=origin,
        )
        try:
            await self._coll.insert_one(
                {
                    "sample_id": event.sample_id,
                    "user_id": event.user_id,
                    "terminal_id": event.terminal_id,
                    "origin": origin.value,
                    "captured_at": datetime.now(UTC),
                    "event": event.model_dump_json(),
                }
            )
        except DuplicateKeyError:
            return None
        await self._producer.publish(event)
        return event

    async def samples_of(self, user_id: str, limit: int) -> list[TrainingSampleCaptured]:
        cursor = self._coll.find({"user_id": user_id}).sort("captured_at", -1).limit(limit)
        return [TrainingSampleCaptured.model_validate_json(d["event"]) async for d in cursor]

    async def erase_user(self, user_id: str) -> int:
        """The user's sample records; their media go with the user's prefix (erasure.py)."""
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
