"""Login sessions opened by accepted attempts; they expire (TTL index, or a purge job).

A session is opened by an insert that the unique ``attempt_id`` index settles: of several
deliveries of one attempt racing (Kafka redeliveries, gateway instances), one inserts and the
others find its session. Updates are no help here: FerretDB does not run a conditional update
atomically, but it does enforce unique indexes. The session id is handed out once, to the
caller that opened it; the store keeps only its sha256, so a reader of the database holds
nothing that opens a session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from core.docstore import Database, IndexSpec

COLLECTION = "sessions"
SESSION_INDEXES = [
    IndexSpec(COLLECTION, [("session_sha256", ASCENDING)], unique=True),
    IndexSpec(COLLECTION, [("attempt_id", ASCENDING)], unique=True),
    IndexSpec(COLLECTION, [("expires_at", ASCENDING)], ttl_seconds=0),
]
# Before ids were hashed: a unique index on the plain id, which every new document (no such
# field) would collide on.
_PLAINTEXT_INDEX = "session_id_1"


class Session(BaseModel):
    user_id: str
    attempt_id: str
    expires_at: datetime
    # Set only for the caller that opened the session; never stored.
    session_id: str | None = None


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def forget_plaintext_sessions(db: Database) -> int:
    """Deletes sessions stored with their plain id (before ids were hashed) and the index on
    it; returns how many. Their holders log in again: sessions last minutes, and a plain id
    at rest is what this removes."""
    coll = db[COLLECTION]
    removed = (await coll.delete_many({"session_sha256": {"$exists": False}})).deleted_count
    if _PLAINTEXT_INDEX in await coll.index_information():
        await coll.drop_index(_PLAINTEXT_INDEX)
    return removed


class SessionStore:
    def __init__(self, db: Database, *, ttl_s: float) -> None:
        self._coll = db[COLLECTION]
        self._ttl = timedelta(seconds=ttl_s)

    async def open(self, user_id: str, attempt_id: str) -> Session:
        """One session per accepted attempt: a redelivered attempt finds the same session,
        without its id (that went to the delivery that opened it)."""
        session_id = secrets.token_urlsafe(24)
        session = Session(
            user_id=user_id,
            attempt_id=attempt_id,
            expires_at=datetime.now(UTC) + self._ttl,
        )
        try:
            await self._coll.insert_one(
                session.model_dump() | {"session_sha256": _digest(session_id)}
            )
        except DuplicateKeyError:
            existing = await self._coll.find_one({"attempt_id": attempt_id})
            if existing is None:  # expired and purged between the insert and the read
                raise
            return Session.model_validate(existing)
        return session.model_copy(update={"session_id": session_id})

    async def valid(self, session_id: str) -> Session | None:
        doc = await self._coll.find_one(
            {"session_sha256": _digest(session_id), "expires_at": {"$gt": datetime.now(UTC)}}
        )
        return None if doc is None else Session.model_validate(doc)

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
