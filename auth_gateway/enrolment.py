"""Enrolment: at least N usable face photos and N voice clips make a user's templates.

Raw enrolment samples are kept in the samples bucket (``{user}/enrol/...``), and their base
embeddings beside the templates (encrypted, as version ``{model}:base@{base}``): a new embedder
version re-embeds those into templates for that version before it is switched on. Templates are
stored per user × modality × model version, encrypted; with hot-swap, an enrolment also writes
templates for the version being prepared and for the rollback target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel

from auth_gateway.analysis import Analyser
from auth_gateway.reembed import features_version
from auth_gateway.replay import ReplayGuard
from auth_gateway.templates import TemplateStore
from core.biometrics.face import FaceSample
from core.biometrics.types import SampleStatus
from core.biometrics.voice import VoiceSample
from core.docstore import Database
from core.objectstore import ObjectStore
from core.registry import ActiveModels, LoadedModel
from schemas.keys import enrolment_media_key, enrolment_prefix


class Upload(BaseModel):
    data: bytes
    content_type: str


class RejectedSample(BaseModel):
    modality: str
    index: int
    reason: str


class EnrolmentError(Exception):
    def __init__(self, message: str, rejected: list[RejectedSample]) -> None:
        super().__init__(message)
        self.rejected = rejected


class EnrolmentResult(BaseModel):
    user_id: str
    face_samples: int
    voice_samples: int
    rejected: list[RejectedSample]
    model_versions: dict[str, str]


class Enroller:
    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        analyser: Analyser,
        templates: TemplateStore,
        *,
        replay: ReplayGuard | None = None,
        min_samples: int,
        models: Callable[[], ActiveModels] | None = None,
        extra_targets: Callable[[str], list[LoadedModel]] | None = None,
    ) -> None:
        self._users = db["users"]
        self._objects = objects
        self._analyser = analyser
        self._templates = templates
        self._replay = replay
        self._min = min_samples
        self._models = models
        self._extra_targets = extra_targets

    async def enroll(
        self, user_id: str, faces: list[Upload], voices: list[Upload]
    ) -> EnrolmentResult:
        models = self._models() if self._models else None
        face_model = models.for_modality("face") if models else None
        voice_model = models.for_modality("voice") if models else None
        face_results = await asyncio.gather(
            *(self._analyser.face(f.data, face_model) for f in faces)
        )
        voice_results = await asyncio.gather(
            *(self._analyser.voice(v.data, voice_model) for v in voices)
        )
        rejected = [
            RejectedSample(modality=modality, index=i, reason=s.reason or s.status.value)
            for modality, results in (("face", face_results), ("voice", voice_results))
            for i, s in enumerate(results)
            if s.status is not SampleStatus.OK or s.embedding is None
        ]
        good_faces = [
            (u, s) for u, s in zip(faces, face_results, strict=True) if s.status is SampleStatus.OK
        ]
        good_voices = [
            (u, s)
            for u, s in zip(voices, voice_results, strict=True)
            if s.status is SampleStatus.OK
        ]
        if len(good_faces) < self._min or len(good_voices) < self._min:
            raise EnrolmentError(
                f"enrolment needs at least {self._min} usable face photos and {self._min} usable "
                f"voice clips; got {len(good_faces)} and {len(good_voices)}",
                rejected,
            )

        bucket = self._objects.bucket("samples")
        await self._objects.delete_prefix(bucket, enrolment_prefix(user_id))
        # Every template of this enrolment is sealed in the next generation; once all are
        # written, the user moves to it and the older ones stop opening (templates.py).
        generation = await self._templates.generation(user_id) + 1
        stored: list[dict[str, object]] = []
        versions: dict[str, str] = {}
        for modality, good in (("face", good_faces), ("voice", good_voices)):
            vectors = np.stack([s.embedding for _, s in good if s.embedding is not None]).astype(
                np.float32
            )
            made_by = good[0][1].ref
            model, version = made_by.name, made_by.version
            versions[model] = version
            await self._templates.save(
                user_id, modality, str(made_by), vectors, generation=generation
            )
            await self._keep_base(
                user_id, modality, model, version, [s for _, s in good], generation
            )
            for i, (upload, _) in enumerate(good):
                ref = await self._objects.put_bytes(
                    bucket,
                    enrolment_media_key(user_id, modality, i),
                    upload.data,
                    upload.content_type,
                )
                stored.append({"modality": modality, "ref": ref.model_dump()})
                if self._replay is not None:
                    await self._replay.register_enrolment(ref.sha256, user_id=user_id)
        await self._users.update_one(
            {"user_id": user_id},
            {
                "$set": {
                    "enrolled_at": datetime.now(UTC),
                    "enrol_samples": stored,
                    "model_versions": versions,
                }
            },
            upsert=True,
        )
        await self._templates.settle(user_id, generation)
        return EnrolmentResult(
            user_id=user_id,
            face_samples=len(good_faces),
            voice_samples=len(good_voices),
            rejected=rejected,
            model_versions=versions,
        )

    async def _keep_base(
        self,
        user_id: str,
        modality: str,
        model: str,
        version: str,
        samples: Sequence[FaceSample | VoiceSample],
        generation: int,
    ) -> None:
        """Stores the base features (a later version re-embeds them without the media), and
        templates for the versions that may serve soon besides ``version``: the one a hot-swap
        is preparing and the rollback target."""
        base = np.stack([s.base_embedding for s in samples if s.base_embedding is not None])
        await self._templates.save(
            user_id, modality, features_version(model), base, generation=generation
        )
        for target in self._extra_targets(model) if self._extra_targets else []:
            if target.version != version:
                vectors = target.embed(base)
                await self._templates.save(
                    user_id, modality, str(target.ref), vectors, generation=generation
                )

    async def exists(self, user_id: str) -> bool:
        return await self._users.find_one({"user_id": user_id}) is not None

    async def erase_user(self, user_id: str) -> int:
        return (await self._users.delete_many({"user_id": user_id})).deleted_count
