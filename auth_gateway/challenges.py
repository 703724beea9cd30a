"""Spoken challenges against replay: random digits bound to a user and a terminal, used once."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from pymongo import ASCENDING, ReturnDocument

from core.docstore import Database, IndexSpec
from schemas.enums import DecisionReason, Language

INDEX = IndexSpec("challenges", [("challenge_id", ASCENDING)], unique=True)


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


class ChallengeStore:
    def __init__(
        self,
        db: Database,
        *,
        digits: int,
        ttl_s: float,
        choose: Callable[[str], str] = secrets.choice,
    ) -> None:
        self._coll = db[INDEX.collection]
        self._digits = digits
        self._ttl = timedelta(seconds=ttl_s)
        # Unpredictable in production (secrets); tests pass a seeded chooser to be repeatable.
        self._choose = choose

    async def issue(
        self, user_id: str, terminal_id: str, language: Language = Language.EN
    ) -> Challenge:
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
            expires_at=datetime.now(UTC) + self._ttl,
        )
        await self._coll.insert_one({**challenge.model_dump(), "used_by": None})
        return challenge

    async def redeem(
        self, challenge_id: str, *, user_id: str, terminal_id: str, attempt_id: str
    ) -> Challenge:
        """Marks the challenge used by ``attempt_id`` and returns it, or says why it cannot be.

        Redeeming again with the same attempt is allowed: a redelivered attempt is not a reuse.
        """
        doc = await self._coll.find_one_and_update(
            {"challenge_id": challenge_id, "used_by": {"$in": [None, attempt_id]}},
            {"$set": {"used_by": attempt_id, "used_at": datetime.now(UTC)}},
            return_document=ReturnDocument.BEFORE,
        )
        if doc is None:
            exists = await self._coll.find_one({"challenge_id": challenge_id})
            if exists is None:
                raise ChallengeRejected(DecisionReason.CHALLENGE_UNKNOWN, "no such challenge")
            raise ChallengeRejected(
                DecisionReason.CHALLENGE_REUSED, "this challenge was already answered"
            )
        challenge = Challenge.model_validate(doc)
        if challenge.user_id != user_id or challenge.terminal_id != terminal_id:
            raise ChallengeRejected(
                DecisionReason.CHALLENGE_MISMATCH,
                "the challenge was issued to another user or terminal",
            )
        if challenge.expires_at <= datetime.now(UTC):
            raise ChallengeRejected(DecisionReason.CHALLENGE_EXPIRED, "the challenge expired")
        return challenge

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
