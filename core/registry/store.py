"""The model registry: versions in MongoDB (``models``), artifacts in the ``models`` bucket.

A version moves ``candidate`` → ``active`` → ``retired``, or to ``rejected`` with a reason (a
failed check, or a rollback). Exactly one version of a model is active (or none: the offline
default); the registry is the shared truth every gateway instance converges on, and each
change is kept in ``history``.

Which version is active is the last entry of the model's activation ledger
(``model_heads``): an activation or a rollback appends entry ``seq + 1`` after the entry it
read, and the unique ``(name, seq)`` index lets only one of several racing appends in.
Updating the version documents instead cannot be made safe on FerretDB, which does not run a
conditional update atomically (it does enforce unique indexes): two activations could each
retire the other, or both stay active. The ``status`` stored in a version's document follows
the ledger and is read through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from core.bus import EventProducer
from core.docstore import Database, Document
from core.objectstore import ObjectStore, sha256_hex
from schemas import MediaRef, ModelPublished
from schemas.keys import artifact_key, manifest_key
from schemas.manifest import Manifest, SignerLike

ONNX_CONTENT_TYPE = "application/onnx"
HEADS = "model_heads"
# Appends that lose to another activation read the ledger again; this many in a row is no race.
_RACE_ROUNDS = 32


class ModelStatus(StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"
    REJECTED = "rejected"


class VersionExists(Exception):
    """A version is published once; a new model gets a new version."""


class NothingToRollBack(Exception):
    pass


class RegistryContended(RuntimeError):
    """Activations kept overtaking this one."""


@dataclass(frozen=True)
class Head:
    """One entry of a model's activation ledger."""

    seq: int
    version: str | None  # what serves from this entry on (None: the offline default)
    previous: str | None  # what a rollback from here restores


_NOTHING_ACTIVE = Head(0, None, None)


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
        self._heads = db[HEADS]
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
        if doc is None:
            return None
        return _as_served(ModelRecord.model_validate(doc), (await self._head(name)).version)

    async def versions(self, name: str | None = None) -> list[ModelRecord]:
        query = {} if name is None else {"name": name}
        cursor = self._coll.find(query).sort([("name", ASCENDING), ("published_at", ASCENDING)])
        records = [ModelRecord.model_validate(doc) async for doc in cursor]
        serving = await self._serving()
        return [_as_served(r, serving.get(r.name)) for r in records]

    async def active(self, name: str) -> ModelRecord | None:
        version = (await self._head(name)).version
        return None if version is None else await self.get(name, version)

    async def active_versions(self) -> dict[str, str]:
        return {name: v for name, v in (await self._serving()).items() if v is not None}

    async def record_canary(self, name: str, version: str, metrics: dict[str, float]) -> None:
        await self._coll.update_one(
            {"name": name, "version": version}, {"$set": {"canary": metrics}}
        )

    async def activate(self, name: str, version: str, *, by: str) -> bool:
        """Makes ``version`` the active one; False if it was rejected (or is not registered).

        Idempotent: every gateway instance that validated the version calls it. Instances
        activating different versions at once are put in order by the ledger: each appends
        after the entry it read, or reads again, so one version is active whatever the race.
        """
        for _ in range(_RACE_ROUNDS):
            head = await self._head(name)
            if head.version == version:
                return True
            record = await self.get(name, version)
            if record is None or record.status is ModelStatus.REJECTED:
                return False
            if await self._append(name, Head(head.seq + 1, version, head.version), by=by):
                break
        else:
            raise RegistryContended(
                f"{name}: {_RACE_ROUNDS} activations in a row overtook {version}"
            )
        await self._coll.update_one(
            {"name": name, "version": version},
            {
                "$set": {
                    "status": ModelStatus.ACTIVE.value,
                    "reason": None,
                    "activated_at": datetime.now(UTC),
                    "previous_version": head.version,
                },
                "$push": {"history": _change(ModelStatus.ACTIVE, by)},
            },
        )
        if head.version is not None:
            await self._coll.update_one(
                {"name": name, "version": head.version, "status": ModelStatus.ACTIVE.value},
                {
                    "$set": {"status": ModelStatus.RETIRED.value},
                    "$push": {"history": _change(ModelStatus.RETIRED, by)},
                },
            )
        return True

    async def reject(self, name: str, version: str, reason: str, detail: str, *, by: str) -> bool:
        """Rejects a candidate; False if it was not one.

        A check that fails on one instance never overturns a version the registry already
        made active: only a rollback does.
        """
        if (await self._head(name)).version == version:
            return False
        result = await self._coll.update_one(
            {"name": name, "version": version, "status": ModelStatus.CANDIDATE.value},
            _rejection(reason, detail, by),
        )
        return result.matched_count > 0

    async def rollback(
        self, name: str, reason: str, *, by: str, expected: str | None = None
    ) -> tuple[str, str | None]:
        """Rejects the active version and reactivates the one it replaced.

        With ``expected``, only that version is rolled back: two instances that both see a
        bad version roll it back once, not it and then its predecessor (the second finds the
        ledger moved on). Returns (the version rolled back, the version restored); None
        restored means the offline default, which is not in the registry.
        """
        head = await self._head(name)
        if head.version is None:
            raise NothingToRollBack(f"{name} has no active registry version")
        if expected is not None and head.version != expected:
            raise NothingToRollBack(f"{name} {expected} is no longer active ({head.version} is)")
        target = None if head.previous is None else await self.get(name, head.previous)
        if target is not None and target.status is ModelStatus.REJECTED:
            target = None
        after = Head(
            head.seq + 1,
            None if target is None else target.version,
            None if target is None else target.previous_version,
        )
        if not await self._append(name, after, by=by, reason=reason):
            raise NothingToRollBack(f"{name} changed while {head.version} was being rolled back")
        await self._coll.update_one(
            {"name": name, "version": head.version},
            _rejection(reason, f"rolled back by {by}", by),
        )
        if target is not None:
            await self._coll.update_one(
                {"name": name, "version": target.version},
                {
                    "$set": {"status": ModelStatus.ACTIVE.value, "activated_at": datetime.now(UTC)},
                    "$push": {"history": _change(ModelStatus.ACTIVE, by, reason)},
                },
            )
        return head.version, after.version

    # -- the activation ledger -------------------------------------------------------------

    async def _head(self, name: str) -> Head:
        doc = await self._heads.find_one({"name": name}, sort=[("seq", DESCENDING)])
        if doc is None:
            return await self._adopt(name)
        return Head(doc["seq"], doc["version"], doc["previous"])

    async def _serving(self) -> dict[str, str | None]:
        """Every model's version per the ledger (None: the offline default)."""
        serving: dict[str, str | None] = {}
        # Entries in ``seq`` order, so each model's last one wins.
        async for doc in self._heads.find({}, {"name": 1, "version": 1}).sort("seq", ASCENDING):
            serving[doc["name"]] = doc["version"]
        for name in await self._coll.distinct("name", {"status": ModelStatus.ACTIVE.value}):
            if name not in serving:
                serving[name] = (await self._adopt(name)).version
        return serving

    async def _adopt(self, name: str) -> Head:
        """A registry from before the ledger: its active version becomes the first entry."""
        doc = await self._coll.find_one(
            {"name": name, "status": ModelStatus.ACTIVE.value}, sort=[("activated_at", DESCENDING)]
        )
        if doc is None:
            return _NOTHING_ACTIVE
        first = Head(1, doc["version"], doc.get("previous_version"))
        if await self._append(name, first, by="registry", reason="adopted"):
            return first
        return await self._head(name)  # another process wrote the first entry meanwhile

    async def _append(self, name: str, head: Head, *, by: str, reason: str | None = None) -> bool:
        """Appends ``head`` to ``name``'s ledger; False if another entry took its place."""
        try:
            await self._heads.insert_one(
                {
                    "name": name,
                    "seq": head.seq,
                    "version": head.version,
                    "previous": head.previous,
                    "by": by,
                    "reason": reason,
                    "at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            return False
        return True


def _rejection(reason: str, detail: str, by: str) -> Document:
    return {
        "$set": {"status": ModelStatus.REJECTED.value, "reason": reason, "detail": detail},
        "$push": {"history": _change(ModelStatus.REJECTED, by, reason)},
    }


def _as_served(record: ModelRecord, serving: str | None) -> ModelRecord:
    """``record`` with the status the ledger gives it: the stored ``active`` and ``retired``
    are written after the ledger entry, and may lag it (or, in a race, be overtaken)."""
    if record.status is ModelStatus.REJECTED:
        return record
    if record.version == serving:
        status = ModelStatus.ACTIVE
    elif record.status is ModelStatus.ACTIVE:
        status = ModelStatus.RETIRED
    else:
        return record
    return record.model_copy(update={"status": status})
