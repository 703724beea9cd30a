"""One handler per message the gateway acts on, and the table that routes them.

Both entry points — the Kafka consumers and the REST ``/verify`` — go through
:func:`verify_attempt`, so they share one engine, one decision log and one idempotence rule:
an attempt_id already decided yields the stored decision again, never a second one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord
from prometheus_client import Counter, Histogram

from auth_gateway.gateway import Gateway
from auth_gateway.sessions import Session
from core.logging import get_logger
from schemas import (
    AuthAttempt,
    AuthDecision,
    AuthFeedback,
    Event,
    LockoutEvent,
    ModelActivation,
    ModelPublished,
    QualityReport,
)
from schemas.catalog import AUTH_GATEWAY
from schemas.enums import (
    FeedbackLabel,
    FeedbackSource,
    LockAction,
    Outcome,
    SampleOrigin,
)

log = get_logger(__name__)

DECISIONS = Counter("kibalock_decisions_total", "Decisions made", ["outcome"])
DECISION_LATENCY = Histogram(
    "kibalock_decision_seconds",
    "From attempt received to decision",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16),
)
REDELIVERED = Counter("kibalock_redelivered_attempts_total", "Attempts decided before")
CAPTURED = Counter("kibalock_training_samples_total", "Training samples captured", ["origin"])


@dataclass
class Handled:
    decision: AuthDecision
    session: Session | None


async def verify_attempt(gw: Gateway, attempt: AuthAttempt) -> Handled:
    """Decides, records, opens a session on accept, publishes, and keeps good samples."""
    # Looked up before verifying, not only when recording: a redelivery must not pay for the
    # models again. The unique attempt_id in the log still settles a race between the two.
    stored = await gw.decisions.find(attempt.attempt_id)
    if stored is not None:
        # The first delivery may have died before publishing: publish the same event again
        # (same event_id, so consumers that saw it already drop it).
        REDELIVERED.inc()
        await gw.producer.publish(stored)
        return Handled(stored, await _session(gw, stored))

    try:
        verdict = await gw.verifier.verify(attempt)
    except Exception:
        gw.swapper.watch.observe_error()
        raise
    face_q, voice_q = verdict.quality()
    qualities = {
        name: q.score for name, q in (("face", face_q), ("voice", voice_q)) if q is not None
    }
    decision, is_new = await gw.decisions.record(attempt, verdict.decision, qualities)
    session = await _session(gw, decision)
    await gw.producer.publish(decision)
    if not is_new:
        return Handled(decision, session)
    DECISIONS.labels(decision.outcome.value).inc()
    await gw.throttle.record(decision)
    gw.swapper.watch.observe(decision)
    DECISION_LATENCY.observe(decision.latency_ms / 1000.0)
    if face_q or voice_q:
        await gw.producer.publish(
            QualityReport(
                producer=AUTH_GATEWAY,
                attempt_id=attempt.attempt_id,
                user_id=attempt.user_id,
                terminal_id=attempt.terminal_id,
                face=face_q,
                voice=voice_q,
            )
        )
    qualifies = gw.capture.qualifies(qualities.get("face"), qualities.get("voice"))
    if decision.outcome is Outcome.ACCEPT and qualifies:
        captured = await gw.capture.capture(
            attempt, verdict.media, qualities, SampleOrigin.ACCEPTED
        )
        if captured:
            CAPTURED.labels("accepted").inc()
    log.info(
        "decision",
        attempt_id=decision.attempt_id,
        outcome=decision.outcome.value,
        reasons=decision.reasons,
        fused=decision.fused_score,
        latency_ms=round(decision.latency_ms, 1),
    )
    return Handled(decision, session)


async def _session(gw: Gateway, decision: AuthDecision) -> Session | None:
    if decision.outcome is not Outcome.ACCEPT:
        return None
    return await gw.sessions.open(decision.user_id, decision.attempt_id)


# Who may say "that refused attempt was really them": the ones who checked another way.
TRUSTED_FEEDBACK = {FeedbackSource.ADMIN, FeedbackSource.FALLBACK_FACTOR}


def _some_factor_matched(decision: AuthDecision) -> bool:
    """Positive evidence that it was the person: a factor scored at or above its threshold."""
    for modality, score in (("face", decision.face_score), ("voice", decision.voice_score)):
        threshold = decision.thresholds.get(f"{modality}_match")
        calibrated = None if score is None else score.calibrated
        if calibrated is not None and threshold is not None and calibrated >= threshold:
            return True
    return False


async def record_feedback(gw: Gateway, feedback: AuthFeedback) -> None:
    """A rejected attempt later confirmed genuine becomes a training sample.

    Only when the confirmation can be trusted (an admin or the fallback factor, never the
    terminal that failed), names the attempt's own user, the samples pass the quality gate and
    at least one factor matched: otherwise an impostor could file their own face and voice as
    the victim's training data (audit finding 5).
    """
    if feedback.label is not FeedbackLabel.GENUINE:
        return
    if feedback.source not in TRUSTED_FEEDBACK:
        log.warning("untrusted feedback ignored", attempt_id=feedback.attempt_id)
        return
    decision = await gw.decisions.find(feedback.attempt_id)
    attempt = await gw.decisions.attempt_of(feedback.attempt_id)
    if decision is None or attempt is None or decision.outcome is Outcome.ACCEPT:
        return
    if feedback.user_id != attempt.user_id or not _some_factor_matched(decision):
        log.warning("feedback does not fit its attempt", attempt_id=feedback.attempt_id)
        return
    qualities = await gw.decisions.qualities_of(feedback.attempt_id)
    if not gw.capture.qualifies(qualities.get("face"), qualities.get("voice")):
        return
    media: dict[str, bytes] = {}
    for modality, ref in (("face", attempt.face), ("voice", attempt.voice)):
        if ref is not None and await gw.objects.exists(ref.bucket, ref.key):
            media[modality] = await gw.objects.get_bytes(ref)
    usable = {m: d for m, d in media.items() if m in qualities}
    if usable and await gw.capture.capture(attempt, usable, qualities, SampleOrigin.FEEDBACK):
        CAPTURED.labels("feedback").inc()


async def apply_lockout(gw: Gateway, event: LockoutEvent) -> None:
    await gw.lockouts.apply(event)
    if event.action is LockAction.UNLOCK:
        # An administrator lifting a lock lifts the gateway's own delay or disablement too.
        await gw.throttle.reset_user(event.user_id)


async def consider_model(gw: Gateway, event: ModelPublished) -> None:
    await gw.swapper.handle_published(event)


async def follow_activation(gw: Gateway, event: ModelActivation) -> None:
    await gw.swapper.on_activation(event)


Handler = Callable[[Gateway, Any], Awaitable[object]]
HANDLERS: dict[type[Event], Handler] = {
    AuthAttempt: verify_attempt,
    AuthFeedback: record_feedback,
    LockoutEvent: apply_lockout,
    ModelPublished: consider_model,
    ModelActivation: follow_activation,
}


async def handle(gw: Gateway, event: Event) -> None:
    """Routes ``event`` to its handler; a type without one is a wiring error."""
    handler = HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"the gateway has no handler for {type(event).__name__}")
    await handler(gw, event)


def tombstones_of(gw: Gateway) -> Callable[[str, bytes], Awaitable[None]]:
    """What an erased user's tombstone on ``security.lockouts`` means here: forget their lock
    (a consumer replaying the topic would otherwise re-apply one read before the erasure)."""

    async def on_tombstone(topic: str, key: bytes) -> None:
        if topic == "security.lockouts":
            await gw.lockouts.erase_user(key.decode("utf-8", "replace"))

    return on_tombstone


def consumer_of(gw: Gateway) -> Callable[[Event, ConsumerRecord[bytes, bytes]], Awaitable[None]]:
    """The callback a :class:`core.bus.ConsumerLoop` feeds decoded records to."""

    async def on_record(event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        await handle(gw, event)

    return on_record
