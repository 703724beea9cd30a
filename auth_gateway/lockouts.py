"""Locks decided by the stream processors (or an admin), honoured at decision time."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ASCENDING

from core.docstore import Database, IndexSpec
from schemas import LockoutEvent
from schemas.enums import LockAction

INDEX = IndexSpec("lockouts", [("user_id", ASCENDING)], unique=True)


class LockoutBook:
    def __init__(self, db: Database) -> None:
        self._coll = db[INDEX.collection]

    async def apply(self, event: LockoutEvent) -> None:
        if event.action == LockAction.LOCK:
            await self._coll.update_one(
                {"user_id": event.user_id},
                {
                    "$set": {
                        "until": event.until,
                        "reason": event.reason,
                        "event_id": str(event.event_id),
                    }
                },
                upsert=True,
            )
        else:
            await self._coll.delete_one({"user_id": event.user_id})

    async def locked_until(self, user_id: str, now: datetime | None = None) -> datetime | None:
        doc = await self._coll.find_one({"user_id": user_id})
        if doc is None or doc.get("until") is None:
            return None
        until: datetime = doc["until"]
        return until if until > (now or datetime.now(UTC)) else None

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
