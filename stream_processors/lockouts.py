"""Stage 1: lockouts per user, from the decisions (event time = ``decided_at``).

- A ``reject`` is a failure; an ``accept`` ends the run of consecutive failures; a ``retry``
  (unusable sample, the user is asked again) changes nothing. Decisions the gateway refused
  *because* the user is locked (reason ``locked``), or made while a lock is in force, are not
  counted: they say nothing new about who is trying.
- ``max_consecutive_failures`` failures in a row, or ``max_window_failures`` failures within
  ``failure_window_s`` whatever succeeded in between, lock the user until the failing
  decision's time plus ``lock_duration_s``, multiplied by ``lock_growth`` for every earlier lock
  since the user's last success (capped at ``max_lock_duration_s``): NIST SP 800-63B's growing
  delay. Counting restarts from zero after a lock.
- A lock ends by itself: the first decision at or after ``until`` finds it expired and starts
  counting afresh (nothing is published then: ``until`` already told the gateway). An admin
  ``unlock`` on ``security.lockouts`` ends it at once and resets the counts; an admin ``lock``
  extends it. The processors' own lock events, read back from that topic, are ignored.
- Idempotent by ``attempt_id``: a decision already counted (a replay, a producer retry) is not
  counted again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from core.settings import ProcessorsSection
from schemas import AuthDecision, DecisionReason, LockAction, LockoutEvent, Outcome
from stream_processors.windows import EVENT_NAMESPACE


class Failure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    attempt_id: str
    at: datetime


class LockState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consecutive: list[str] = Field(default_factory=list, description="attempt ids in the run")
    recent: list[Failure] = Field(default_factory=list, description="failures in the window")
    locked_until: datetime | None = None
    locks_since_success: int = 0


def on_decision(
    state: LockState, decision: AuthDecision, cfg: ProcessorsSection
) -> tuple[LockState, LockoutEvent | None]:
    """The state after the decision and, if it locks the user, the lock to publish."""
    at = decision.decided_at
    state = state.model_copy(deep=True)
    if state.locked_until is not None:
        if at < state.locked_until:
            return state, None
        state.locked_until = None
        state.consecutive, state.recent = [], []
    if DecisionReason.LOCKED in decision.reasons or decision.outcome is Outcome.RETRY:
        return state, None
    if decision.outcome is Outcome.ACCEPT:
        state.consecutive = []
        state.locks_since_success = 0
        return state, None
    seen = set(state.consecutive) | {f.attempt_id for f in state.recent}
    if decision.attempt_id in seen:
        return state, None
    state.consecutive.append(decision.attempt_id)
    horizon = at - timedelta(seconds=cfg.failure_window_s)
    recent = [f for f in state.recent if f.at > horizon]
    recent.append(Failure(attempt_id=decision.attempt_id, at=at))
    state.recent = recent[-cfg.max_window_failures :]
    if len(state.consecutive) >= cfg.max_consecutive_failures:
        reason, failures = "consecutive_failures", len(state.consecutive)
    elif len(state.recent) >= cfg.max_window_failures:
        reason, failures = "failure_rate", len(state.recent)
    else:
        return state, None
    seconds = min(
        cfg.max_lock_duration_s,
        cfg.lock_duration_s * cfg.lock_growth**state.locks_since_success,
    )
    until = at + timedelta(seconds=seconds)
    lock = LockoutEvent(
        # Same user and end: same lock, so a lock published again after a crash keeps its id.
        event_id=uuid.uuid5(EVENT_NAMESPACE, f"lock|{decision.user_id}|{until.isoformat()}"),
        occurred_at=at,
        producer=cfg.producer_id,
        user_id=decision.user_id,
        action=LockAction.LOCK,
        reason=reason,
        until=until,
        failures=failures,
        requested_by=cfg.producer_id,
    )
    state.locked_until = until
    state.locks_since_success += 1
    state.consecutive, state.recent = [], []
    return state, lock


def on_lockout_event(state: LockState, event: LockoutEvent, cfg: ProcessorsSection) -> LockState:
    """Applies a lock or unlock published by someone else (an admin, the API)."""
    if event.requested_by == cfg.producer_id:
        return state
    if event.action is LockAction.UNLOCK:
        return LockState()
    assert event.until is not None  # the schema requires it for a lock
    until = event.until if state.locked_until is None else max(state.locked_until, event.until)
    return state.model_copy(update={"locked_until": until})
