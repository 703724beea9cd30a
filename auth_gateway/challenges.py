"""Spoken challenges against replay: random digits bound to a user and a terminal, used once.

Using a challenge is an *insert* of ``{_id: challenge_id}`` into ``challenge_uses``: the unique
``_id`` makes it atomic on every server, including FerretDB's SQLite backend, whose
find-and-modify is not atomic across clients (two attempts could both claim one challenge).
The user, terminal and expiry are checked before the claim, so someone who learnt a challenge
id cannot burn it for its owner. Challenges and their uses expire (TTL, or the gateway's purge
where the server has no TTL indexes), and one terminal may ask for only so many per minute.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from core.docstore import Database, IndexSpec
from schemas.enums import DecisionReason, Language

INDEX = IndexSpec("challenges", [("challenge_id", ASCENDING)], unique=True)
# Kept an hour past expiry, so a late redelivery still reads "expired", not "unknown".
GRACE_S = 3600
INDEXES = [
    INDEX,
    IndexSpec("challenges", [("expires_at", ASCENDING)], ttl_seconds=GRACE_S),
    IndexSpec("challenges", [("terminal_id", ASCENDING), ("issued_at", ASCENDING)]),
    IndexSpec("challenge_uses", [("expires_at", ASCENDING)], ttl_seconds=GRACE_S),
]


class Challenge(BaseModel):
    challenge_id: str
    user_id: str
    terminal_id: str
    digits: str
    # Challenges stored before terminals declared a language were all English.
    language: Language = Language.EN
    expires_at: datetime


class ChallengeRejected(Exception):
    """Why a challenge cannot be used; ``reason`` is the decision reason code."""

    def __init__(self, reason: DecisionReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TooManyChallenges(Exception):
    """A terminal asked for more challenges per minute than it may."""


class ChallengeStore:
    def __init__(
        self,
        db: Database,
        *,
        digits: int,
        ttl_s: float,
        per_terminal_minute: int = 30,
        choose: Callable[[str], str] = secrets.choice,
    ) -> None:
        self._coll = db[INDEX.collection]
        self._uses = db["challenge_uses"]
        self._digits = digits
        self._ttl = timedelta(seconds=ttl_s)
        self._per_minute = per_terminal_minute
        # Unpredictable in production (secrets); tests pass a seeded chooser to be repeatable.
        self._choose = choose

    async def issue(
        self, user_id: str, terminal_id: str, language: Language = Language.EN
    ) -> Challenge:
        now = datetime.now(UTC)
        recent = await self._coll.count_documents(
            {"terminal_id": terminal_id, "issued_at": {"$gt": now - timedelta(minutes=1)}}
        )
        if recent >= self._per_minute:
            raise TooManyChallenges(f"{terminal_id} asked for {recent} challenges this minute")
        # No digit repeats back to back: "4 4" is easily heard as one digit.
        digits = [self._choose("0123456789")]
        while len(digits) < self._digits:
            digit = self._choose("0123456789")
            if digit != digits[-1]:
                digits.append(digit)
        challenge = Challenge(
            challenge_id=uuid.uuid4().hex,
            user_id=user_id,
            terminal_id=terminal_id,
            digits="".join(digits),
            language=language,
            expires_at=now + self._ttl,
        )
        await self._coll.insert_one({**challenge.model_dump(), "issued_at": now})
        return challenge

    async def check(
        self, challenge_id: str, *, user_id: str, terminal_id: str, attempt_id: str
    ) -> Challenge:
        """The challenge if ``attempt_id`` could redeem it now, without claiming it; otherwise
        :class:`ChallengeRejected` says why (what :meth:`redeem` would say)."""
        doc = await self._coll.find_one({"challenge_id": challenge_id})
        if doc is None:
            raise ChallengeRejected(DecisionReason.CHALLENGE_UNKNOWN, "no such challenge")
        challenge = Challenge.model_validate(doc)
        if challenge.user_id != user_id or challenge.terminal_id != terminal_id:
            raise ChallengeRejected(
                DecisionReason.CHALLENGE_MISMATCH,
                "the challenge was issued to another user or terminal",
            )
        if challenge.expires_at <= datetime.now(UTC):
            raise ChallengeRejected(DecisionReason.CHALLENGE_EXPIRED, "the challenge expired")
        use = await self._uses.find_one({"_id": challenge_id})
        if use is not None and use["attempt_id"] != attempt_id:
            raise ChallengeRejected(
                DecisionReason.CHALLENGE_REUSED, "this challenge was already answered"
            )
        return challenge

    async def redeem(
        self, challenge_id: str, *, user_id: str, terminal_id: str, attempt_id: str
    ) -> Challenge:
        """Marks the challenge used by ``attempt_id`` and returns it, or says why it cannot be.

        Redeeming again with the same attempt is allowed: a redelivered attempt is not a reuse.
        """
        challenge = await self.check(
            challenge_id, user_id=user_id, terminal_id=terminal_id, attempt_id=attempt_id
        )
        try:
            await self._uses.insert_one(
                {
                    "_id": challenge_id,
                    "attempt_id": attempt_id,
                    "user_id": user_id,
                    "used_at": datetime.now(UTC),
                    "expires_at": challenge.expires_at,
                }
            )
        except DuplicateKeyError:
            use = await self._uses.find_one({"_id": challenge_id})
            if use is None or use["attempt_id"] != attempt_id:
                raise ChallengeRejected(
                    DecisionReason.CHALLENGE_REUSED, "this challenge was already answered"
                ) from None
        return challenge

    async def erase_user(self, user_id: str) -> int:
        uses = await self._uses.delete_many({"user_id": user_id})
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count + (
            uses.deleted_count
        )
