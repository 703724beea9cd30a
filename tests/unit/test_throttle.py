"""Brute-force rules: which refusals count, the growing delay, disablement, reset on success."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auth_gateway.throttle import ThrottleRules, ThrottleState, after_attempt, refuses
from schemas import AuthDecision
from schemas.enums import DecisionReason, Outcome
from schemas.examples import example_events

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
RULES = ThrottleRules(free_failures=3, first_delay_s=30, max_delay_s=100, disable_after=6)


def _decision(outcome: Outcome, *reasons: DecisionReason) -> AuthDecision:
    base = next(e for e in example_events() if isinstance(e, AuthDecision))
    return base.model_copy(update={"outcome": outcome, "reasons": [r.value for r in reasons]})


FAIL = _decision(Outcome.REJECT, DecisionReason.FACE_MISMATCH)


def _fail(times: int) -> ThrottleState:
    state = ThrottleState()
    for _ in range(times):
        after = after_attempt(state, FAIL, RULES, NOW)
        assert after is not None
        state = after
    return state


def test_free_failures_then_a_delay_that_doubles_up_to_the_maximum() -> None:
    assert not refuses(_fail(2), NOW)
    third = _fail(3)
    assert third.delay_until == NOW + timedelta(seconds=30) and refuses(third, NOW)
    assert not refuses(third, NOW + timedelta(seconds=31))
    assert _fail(4).delay_until == NOW + timedelta(seconds=60)
    assert _fail(5).delay_until == NOW + timedelta(seconds=100)  # capped


def test_biometrics_are_disabled_after_the_limit_until_reset() -> None:
    assert not _fail(5).disabled
    disabled = _fail(6)
    assert disabled.disabled and refuses(disabled, NOW + timedelta(days=365))
    assert after_attempt(disabled, _decision(Outcome.ACCEPT), RULES, NOW) is None


def test_a_success_resets_and_what_judged_nothing_does_not_count() -> None:
    assert after_attempt(_fail(2), _decision(Outcome.ACCEPT), RULES, NOW) is None
    state = _fail(2)
    for decision in (
        _decision(Outcome.RETRY, DecisionReason.NO_FACE),
        _decision(Outcome.REJECT, DecisionReason.CHALLENGE_EXPIRED),
        _decision(Outcome.REJECT, DecisionReason.LOCKED),
        _decision(Outcome.REJECT, DecisionReason.OBJECT_STORE_ERROR),
    ):
        assert after_attempt(state, decision, RULES, NOW) == state
    replay = _decision(Outcome.REJECT, DecisionReason.REPLAY)
    counted = after_attempt(state, replay, RULES, NOW)
    assert counted is not None and counted.failures == 3


def test_terminals_are_never_disabled() -> None:
    rules = RULES.model_copy(update={"disable_after": None})
    state = ThrottleState()
    for _ in range(50):
        after = after_attempt(state, FAIL, rules, NOW)
        assert after is not None
        state = after
    assert not state.disabled and state.failures == 50
