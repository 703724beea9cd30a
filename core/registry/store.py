"""The model registry: versions in MongoDB (``models``), artifacts in the ``models`` bucket.

A version moves ``candidate`` → ``active`` → ``retired``, or to ``rejected`` with a reason (a
failed check, or a rollback). At most one version of a model is active; the registry is the
shared truth every gateway instance converges on, and each change is kept in ``history``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from core.bus import EventProducer
from core.docstore import Database, Document
from core.objectstore import ObjectStore, sha256_hex
from schemas import MediaRef, ModelPublished
from schemas.keys import artifact_key, manifest_key
from schemas.manifest import Manifest, SignerLike

ONNX_CONTENT_TYPE = "application/onnx"


class ModelStatus(StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"
    REJECTED = "rejected"


class VersionExists(Exception):
    """A version is published once; a new model gets a new version."""


class NothingToRollBack(Exception):
    pass


class StatusChange(BaseModel):
    at: datetime
    status: ModelStatus
    reason: str | None = None
    by: str


class ModelRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    status: ModelStatus
    reason: str | None = None
    detail: str | None = None
    manifest: Manifest
    artifact: MediaRef
    manifest_ref: MediaRef
    published_at: datetime
    activated_at: datetime | None = None
    previous_version: str | None = None
    canary: dict[str, float] = Field(default_factory=dict)
    history: list[StatusChange] = Field(default_factory=list)

    def published_event(self, producer: str) -> ModelPublished:
        return self.manifest.published(producer, self.artifact, self.manifest_ref)


def _change(status: ModelStatus, by: str, reason: str | None = None) -> Document:
    return StatusChange(at=datetime.now(UTC), status=status, reason=reason, by=by).model_dump(
        mode="json"
    )


class ModelRegistry:
    def __init__(self, db: Database, objects: ObjectStore) -> None:
        self._coll = db["models"]
        self._objects = objects
        self.bucket = objects.bucket("models")

    async def publish(
        self,
        data: bytes,
        manifest: Manifest,
        signer: SignerLike,
        producer: EventProducer,
        *,
        by: str,
    ) -> ModelPublished:
        """Signs, uploads and registers a candidate, then announces it on ``models.published``.

        The sha256 and size in ``manifest`` are set here from ``data``.
        """
        signed = manifest.model_copy(
            update={"sha256": sha256_hex(data), "size_bytes": len(data)}
        ).signed(signer)
        body = signed.to_bytes()
        name, version = signed.name, signed.version
        artifact = MediaRef.of(
            self.bucket,
            artifact_key(name, version),
            sha256=signed.sha256,
            content_type=ONNX_CONTENT_TYPE,
            size_bytes=len(data),
        )
        manifest_ref = MediaRef.of(
            self.bucket,
            manifest_key(name, version),
            sha256=sha256_hex(body),
            content_type="application/json",
            size_bytes=len(body),
        )
        record = ModelRecord(
            name=name,
            version=version,
            status=ModelStatus.CANDIDATE,
            manifest=signed,
            artifact=artifact,
            manifest_ref=manifest_ref,
            published_at=datetime.now(UTC),
            previous_version=None,
            history=[StatusChange.model_validate(_change(ModelStatus.CANDIDATE, by))],
        )
        # The unique (name, version) index claims the version before any byte is written, so
        # two publishers of one version cannot overwrite each other's files.
        try:
            await self._coll.insert_one(record.model_dump(mode="json"))
        except DuplicateKeyError as exc:
            raise VersionExists(f"{name} {version} is already registered") from exc
        await self._objects.put_bytes(self.bucket, artifact.key, data, ONNX_CONTENT_TYPE)
        await self._objects.put_bytes(self.bucket, manifest_ref.key, body, "application/json")
        event = record.published_event(producer.producer_name)
        await producer.publish(event)
        return event

    async def get(self, name: str, version: str) -> ModelRecord | None:
        doc = await self._coll.find_one({"name": name, "version": version})
        return None if doc is None else ModelRecord.model_validate(doc)

    async def versions(self, name: str | None = None) -> list[ModelRecord]:
        query = {} if name is None else {"name": name}
        cursor = self._coll.find(query).sort([("name", ASCENDING), ("published_at", ASCENDING)])
        return [ModelRecord.model_validate(doc) async for doc in cursor]

    async def active(self, name: str) -> ModelRecord | None:
        doc = await self._coll.find_one({"name": name, "status": ModelStatus.ACTIVE.value})
        return None if doc is None else ModelRecord.model_validate(doc)

    async def active_versions(self) -> dict[str, str]:
        cursor = self._coll.find({"status": ModelStatus.ACTIVE.value}, {"name": 1, "version": 1})
        return {doc["name"]: doc["version"] async for doc in cursor}

    async def record_canary(self, name: str, version: str, metrics: dict[str, float]) -> None:
        await self._coll.update_one(
            {"name": name, "version": version}, {"$set": {"canary": metrics}}
        )

    async def activate(self, name: str, version: str, *, by: str) -> bool:
        """Makes ``version`` the active one and retires the others; False if it was rejected.

        Idempotent: every gateway instance that validated the version calls it.
        """
        current = await self.active(name)
        if current is not None and current.version == version:
            return True
        now = datetime.now(UTC)
        update: dict[str, Any] = {
            "$set": {
                "status": ModelStatus.ACTIVE.value,
                "reason": None,
                "activated_at": now,
                "previous_version": current.version if current else None,
            },
            "$push": {"history": _change(ModelStatus.ACTIVE, by)},
        }
        result = await self._coll.update_one(
            {
                "name": name,
                "version": version,
                "status": {"$in": [ModelStatus.CANDIDATE.value, ModelStatus.RETIRED.value]},
            },
            update,
        )
        if result.matched_count == 0:
            return False
        await self._retire_others(name, version, by)
        return True

    async def _retire_others(self, name: str, version: str, by: str) -> None:
        await self._coll.update_many(
            {"name": name, "status": ModelStatus.ACTIVE.value, "version": {"$ne": version}},
            {
                "$set": {"status": ModelStatus.RETIRED.value},
                "$push": {"history": _change(ModelStatus.RETIRED, by)},
            },
        )

    async def reject(
        self,
        name: str,
        version: str,
        reason: str,
        detail: str,
        *,
        by: str,
        allow_active: bool = False,
    ) -> bool:
        """Rejects a candidate (or, for a rollback, the active version); False if it was not.

        A check that fails on one instance never overturns a version the registry already
        made active: only a rollback does.
        """
        allowed = [ModelStatus.CANDIDATE.value]
        if allow_active:
            allowed.append(ModelStatus.ACTIVE.value)
        result = await self._coll.update_one(
            {"name": name, "version": version, "status": {"$in": allowed}},
            {
                "$set": {"status": ModelStatus.REJECTED.value, "reason": reason, "detail": detail},
                "$push": {"history": _change(ModelStatus.REJECTED, by, reason)},
            },
        )
        return result.matched_count > 0

    async def rollback(
        self, name: str, reason: str, *, by: str, expected: str | None = None
    ) -> tuple[str, str | None]:
        """Rejects the active version and reactivates the one it replaced.

        With ``expected``, only that version is rolled back: two instances that both see a
        bad version roll it back once, not it and then its predecessor. Returns (the version
        rolled back, the version restored); None restored means the offline default, which is
        not in the registry.
        """
        current = await self.active(name)
        if current is None:
            raise NothingToRollBack(f"{name} has no active registry version")
        if expected is not None and current.version != expected:
            raise NothingToRollBack(f"{name} {expected} is no longer active ({current.version} is)")
        await self.reject(
            name, current.version, reason, f"rolled back by {by}", by=by, allow_active=True
        )
        target = current.previous_version
        restored: str | None = None
        if target is not None:
            result = await self._coll.update_one(
                {"name": name, "version": target, "status": ModelStatus.RETIRED.value},
                {
                    "$set": {"status": ModelStatus.ACTIVE.value, "activated_at": datetime.now(UTC)},
                    "$push": {"history": _change(ModelStatus.ACTIVE, by, reason)},
                },
            )
            restored = target if result.matched_count else None
        return current.version, restored
