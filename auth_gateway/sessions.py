"""Login sessions opened by accepted attempts; they expire (TTL index, or a purge job)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from core.docstore import Database


class Session(BaseModel):
    session_id: str
    user_id: str
    attempt_id: str
    expires_at: datetime


class SessionStore:
    def __init__(self, db: Database, *, ttl_s: float) -> None:
        self._coll = db["sessions"]
        self._ttl = timedelta(seconds=ttl_s)

    async def open(self, user_id: str, attempt_id: str) -> Session:
        """One session per accepted attempt: a redelivered attempt gets the same session."""
        existing = await self._coll.find_one({"attempt_id": attempt_id})
        if existing is not None:
            return Session.model_validate(existing)
        session = Session(
            session_id=secrets.token_urlsafe(24),
            user_id=user_id,
            attempt_id=attempt_id,
            expires_at=datetime.now(UTC) + self._ttl,
        )
        await self._coll.insert_one(session.model_dump())
        return session

    async def valid(self, session_id: str) -> Session | None:
        doc = await self._coll.find_one(
            {"session_id": session_id, "expires_at": {"$gt": datetime.now(UTC)}}
        )
        return None if doc is None else Session.model_validate(doc)

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
