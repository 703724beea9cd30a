"""Brute force stopped at the door (NIST SP 800-63B §5.2.3): counted and refused synchronously.

The gateway itself counts consecutive failed verifications per user and per terminal, whatever
the path (REST or Kafka), and refuses during a growing delay: after ``free_failures`` failures a
delay of ``first_delay_s`` that doubles with each further failure up to ``max_delay_s``; after
``disable_after`` consecutive failures a user's biometric login is disabled until an
administrator (or the fallback factor) lifts it with an unlock. A success resets the user's and
the terminal's counts. The processors' lockout stream stays, for analytics and to propagate
locks between instances.

The rules are pure (:func:`after_attempt`, :func:`refuses`); :class:`Throttle` keeps one small
document per user and per terminal. Counting is by ``$inc`` on one document: exact on MongoDB; on
FerretDB's SQLite backend concurrent failures may be counted once, which only delays a lock by
an attempt or two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from core.docstore import Database
from core.settings.gateway import GatewaySection
from schemas import AuthDecision
from schemas.enums import DecisionReason, Outcome

# Refusals that cost no biometric judgement and reveal nothing: counting them would let anyone
# lock a user out with stale challenges, and a locked user's refusals must not extend the lock.
_NOT_A_GUESS = {
    DecisionReason.LOCKED,
    DecisionReason.CHALLENGE_MISSING,
    DecisionReason.CHALLENGE_UNKNOWN,
    DecisionReason.CHALLENGE_EXPIRED,
    DecisionReason.CHALLENGE_REUSED,
    DecisionReason.MISSING_OBJECT,
    DecisionReason.CHECKSUM_MISMATCH,
    DecisionReason.OBJECT_STORE_ERROR,
    DecisionReason.UNCALIBRATED_MODEL,
}


class ThrottleRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    free_failures: int = Field(default=5, ge=1)
    first_delay_s: float = Field(default=30.0, gt=0)
    max_delay_s: float = Field(default=3600.0, gt=0)
    disable_after: int | None = Field(default=10, ge=1, description="None: never disable")


@dataclass(frozen=True)
class ThrottleState:
    failures: int = 0
    delay_until: datetime | None = None
    disabled: bool = False


def is_guess(decision: AuthDecision) -> bool:
    """A refusal that judged the person's biometrics (or a replay): it counts as a failure."""
    return decision.outcome is Outcome.REJECT and not set(decision.reasons) & _NOT_A_GUESS


def after_attempt(
    state: ThrottleState, decision: AuthDecision, rules: ThrottleRules, now: datetime
) -> ThrottleState | None:
    """The state after ``decision``: None to reset (a success), the same state if it does not
    count (a retry, a stale challenge)."""
    if decision.outcome is Outcome.ACCEPT:
        return None
    if not is_guess(decision):
        return state
    failures = state.failures + 1
    disabled = state.disabled or (
        rules.disable_after is not None and failures >= rules.disable_after
    )
    delay_until = state.delay_until
    if failures >= rules.free_failures:
        delay = min(rules.first_delay_s * 2 ** (failures - rules.free_failures), rules.max_delay_s)
        delay_until = now + timedelta(seconds=delay)
    return ThrottleState(failures=failures, delay_until=delay_until, disabled=disabled)


def refuses(state: ThrottleState, now: datetime) -> bool:
    return state.disabled or (state.delay_until is not None and now < state.delay_until)


def rules_of(options: GatewaySection) -> tuple[ThrottleRules, ThrottleRules]:
    """The users' and the terminals' rules from the settings (terminals are never disabled:
    one terminal serves many people)."""
    user = ThrottleRules(
        free_failures=options.throttle_free_failures,
        first_delay_s=options.throttle_first_delay_s,
        max_delay_s=options.throttle_max_delay_s,
        disable_after=options.throttle_disable_after,
    )
    terminal = user.model_copy(
        update={"free_failures": options.throttle_terminal_free_failures, "disable_after": None}
    )
    return user, terminal


class Throttle:
    """The counts, one document per ``user:{id}`` and ``terminal:{id}`` (point lookups by _id)."""

    def __init__(self, db: Database, user_rules: ThrottleRules, terminal_rules: ThrottleRules):
        self._coll = db["throttle"]
        self.user_rules = user_rules
        self.terminal_rules = terminal_rules

    async def refuses(self, user_id: str, terminal_id: str, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        for key in (f"user:{user_id}", f"terminal:{terminal_id}"):
            if refuses(await self._state(key), now):
                return True
        return False

    async def record(self, decision: AuthDecision, now: datetime | None = None) -> None:
        """Counts ``decision`` (once per attempt: the caller records only new decisions)."""
        now = now or datetime.now(UTC)
        for key, rules in (
            (f"user:{decision.user_id}", self.user_rules),
            (f"terminal:{decision.terminal_id}", self.terminal_rules),
        ):
            before = await self._state(key)
            after = after_attempt(before, decision, rules, now)
            if after is None:
                await self._coll.delete_one({"_id": key})
            elif after != before:
                await self._coll.update_one(
                    {"_id": key},
                    {
                        "$inc": {"failures": 1},
                        "$set": {
                            "delay_until": after.delay_until,
                            "disabled": after.disabled,
                            "updated_at": now,
                        },
                    },
                    upsert=True,
                )

    async def state_of_user(self, user_id: str) -> ThrottleState:
        return await self._state(f"user:{user_id}")

    async def reset_user(self, user_id: str) -> None:
        """An administrator's unlock, or the fallback factor passed."""
        await self._coll.delete_one({"_id": f"user:{user_id}"})

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"_id": f"user:{user_id}"})).deleted_count

    async def _state(self, key: str) -> ThrottleState:
        doc = await self._coll.find_one({"_id": key})
        if doc is None:
            return ThrottleState()
        return ThrottleState(
            failures=int(doc.get("failures", 0)),
            delay_until=doc.get("delay_until"),
            disabled=bool(doc.get("disabled", False)),
        )
