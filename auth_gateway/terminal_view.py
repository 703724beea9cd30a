"""What a terminal is told about a decision: the outcome and what to do next, nothing more.

A terminal is not trusted (anyone can hold one), so its answer must not be an oracle: no scores,
thresholds or heard digits to hill-climb against, no ``not_enrolled`` to enumerate users with,
no ``locked`` to probe lock state. A user who is unknown, locked or simply not matched gets the
same ``not_recognised``. Only what the person at the terminal can act on is told apart: capture
again (no face, no speech, a poor sample) or ask for a new challenge. The full decision stays in
the decision log and on ``auth.decisions``.
"""

from __future__ import annotations

from enum import StrEnum

from schemas import AuthDecision
from schemas.enums import DecisionReason, Outcome


class NextStep(StrEnum):
    DONE = "done"  # accepted: the session is open
    NEW_CHALLENGE = "new_challenge"  # the challenge is missing, unknown, expired or used
    SHOW_FACE = "show_face"  # no face was found: look at the camera
    SPEAK_DIGITS = "speak_digits"  # no speech was heard: say the digits aloud
    CAPTURE_AGAIN = "capture_again"  # a sample was too poor to judge
    NOT_RECOGNISED = "not_recognised"  # refused; never says why


_CHALLENGE_PROBLEMS = {
    DecisionReason.CHALLENGE_MISSING,
    DecisionReason.CHALLENGE_UNKNOWN,
    DecisionReason.CHALLENGE_EXPIRED,
    DecisionReason.CHALLENGE_REUSED,
}
_RETRY_HINTS: dict[str, NextStep] = {
    DecisionReason.NO_FACE: NextStep.SHOW_FACE,
    DecisionReason.NO_SPEECH: NextStep.SPEAK_DIGITS,
}


def next_step(decision: AuthDecision) -> NextStep:
    if decision.outcome is Outcome.ACCEPT:
        return NextStep.DONE
    reasons = set(decision.reasons)
    # A locked user's challenge is never looked at, so "locked" and "new challenge" cannot
    # both be true; checking the lock first keeps the lock invisible all the same.
    if DecisionReason.LOCKED in reasons:
        return NextStep.NOT_RECOGNISED
    if reasons & _CHALLENGE_PROBLEMS:
        return NextStep.NEW_CHALLENGE
    if decision.outcome is Outcome.RETRY:
        for reason in decision.reasons:
            if reason in _RETRY_HINTS:
                return _RETRY_HINTS[reason]
        return NextStep.CAPTURE_AGAIN
    return NextStep.NOT_RECOGNISED
