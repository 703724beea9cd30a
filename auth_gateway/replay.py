"""Replay guard: a media sample (by sha256) may serve one attempt only, and an enrolment
sample none (a byte-identical copy of one is a replay, not a login)."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from core.docstore import Database, IndexSpec

INDEX = IndexSpec("media_seen", [("sha256", ASCENDING)], unique=True)


class ReplayGuard:
    def __init__(self, db: Database) -> None:
        self._coll = db[INDEX.collection]

    async def first_use(self, sha256: str, *, attempt_id: str, user_id: str) -> bool:
        """True when ``sha256`` is new, or was first seen in this same attempt (redelivery)."""
        try:
            await self._coll.insert_one(
                {
                    "sha256": sha256,
                    "attempt_id": attempt_id,
                    "user_id": user_id,
                    "at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            seen = await self._coll.find_one({"sha256": sha256})
            return seen is not None and seen.get("attempt_id") == attempt_id
        return True

    async def register_enrolment(self, sha256: str, *, user_id: str) -> None:
        """Marks an enrolment sample as used; no attempt can then claim it (idempotent)."""
        # An insert, not an upsert: FerretDB's upserts are not atomic under its unique index.
        try:
            await self._coll.insert_one(
                {"sha256": sha256, "attempt_id": None, "user_id": user_id, "at": datetime.now(UTC)}
            )
        except DuplicateKeyError:
            return

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
