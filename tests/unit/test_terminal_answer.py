"""Terminals: their own keys, and answers that tell the person what to do and nothing else."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from auth_gateway.terminal_auth import TerminalAuth, new_master_key, terminal_key
from auth_gateway.terminal_view import NextStep, next_step
from schemas import AuthDecision
from schemas.enums import DecisionReason, Outcome
from schemas.examples import example_events

MASTER = SecretStr(new_master_key())


def _decision(outcome: Outcome, *reasons: DecisionReason) -> AuthDecision:
    base = next(e for e in example_events() if isinstance(e, AuthDecision))
    return base.model_copy(update={"outcome": outcome, "reasons": [r.value for r in reasons]})


def test_a_key_opens_its_own_terminal_only() -> None:
    auth = TerminalAuth(MASTER, revoked=[])
    key = terminal_key(MASTER, "t-1")
    assert auth.check("t-1", key)
    assert not auth.check("t-2", key)
    assert not auth.check("t-1", None) and not auth.check("t-1", key[:-1] + "A")
    assert not TerminalAuth(SecretStr(new_master_key()), revoked=[]).check("t-1", key)


def test_a_revoked_terminal_and_a_gateway_without_master_key_refuse() -> None:
    key = terminal_key(MASTER, "stolen")
    assert not TerminalAuth(MASTER, revoked=["stolen"]).check("stolen", key)
    disabled = TerminalAuth(None, revoked=[])
    assert not disabled.enabled and not disabled.check("stolen", key)


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (DecisionReason.NOT_ENROLLED, Outcome.REJECT),
        (DecisionReason.LOCKED, Outcome.REJECT),
        (DecisionReason.FACE_MISMATCH, Outcome.REJECT),
        (DecisionReason.VOICE_MISMATCH, Outcome.REJECT),
        (DecisionReason.CHALLENGE_MISMATCH, Outcome.REJECT),
        (DecisionReason.SCORE_BELOW_THRESHOLD, Outcome.REJECT),
        (DecisionReason.REPLAY, Outcome.REJECT),
    ],
)
def test_unknown_locked_and_mismatched_users_look_the_same(
    reason: DecisionReason, outcome: Outcome
) -> None:
    assert next_step(_decision(outcome, reason)) is NextStep.NOT_RECOGNISED


def test_what_the_person_can_act_on_is_told() -> None:
    assert next_step(_decision(Outcome.ACCEPT)) is NextStep.DONE
    expired = _decision(Outcome.REJECT, DecisionReason.CHALLENGE_EXPIRED)
    assert next_step(expired) is NextStep.NEW_CHALLENGE
    assert next_step(_decision(Outcome.RETRY, DecisionReason.NO_FACE)) is NextStep.SHOW_FACE
    assert next_step(_decision(Outcome.RETRY, DecisionReason.NO_SPEECH)) is NextStep.SPEAK_DIGITS
    poor = _decision(Outcome.RETRY, DecisionReason.LOW_QUALITY)
    assert next_step(poor) is NextStep.CAPTURE_AGAIN
    # The lock stays invisible even next to a challenge problem.
    both = _decision(Outcome.REJECT, DecisionReason.LOCKED, DecisionReason.CHALLENGE_REUSED)
    assert next_step(both) is NextStep.NOT_RECOGNISED
