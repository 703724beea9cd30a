"""Retrain triggers, lockouts and personalisation on the real broker."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench.support.synthetic import decision, feedback, voice_sample
from core.bus import EventProducer
from core.settings import Settings
from schemas import (
    Event,
    FeedbackLabel,
    LockAction,
    LockoutEvent,
    Outcome,
    RetrainReason,
    RetrainTrigger,
)
from tests.integration.test_processors_support import (
    base_time,
    flush,
    publish_all,
    read_events,
    running_worker,
    user_on,
    wait_caught_up,
    worker_settings,
)

pytestmark = pytest.mark.integration

PER_MINUTE = 30


def minute_of_attempts(start: datetime, minute: int, accuracy: float) -> list[Event]:
    """30 genuine attempts, ``accuracy`` of them accepted; each labelled a second later, in the
    same minute (so every label counts in the minute it belongs to)."""
    wrong = round(PER_MINUTE * (1 - accuracy))
    events: list[Event] = []
    for k in range(PER_MINUTE):
        at = start + timedelta(minutes=minute, seconds=2 * k)
        attempt, user = f"att-{minute}-{k}", f"user-{k % 7}"
        outcome = Outcome.REJECT if k < wrong else Outcome.ACCEPT
        events.append(decision(attempt, user, at, outcome))
        events.append(feedback(attempt, user, at + timedelta(seconds=1), FeedbackLabel.GENUINE))
    return events


async def test_one_trigger_per_incident_and_a_second_after_the_cool_down(
    topics: Settings, producer: EventProducer, tmp_path: Path
) -> None:
    # Default windows (hopping 5 min every minute) and threshold 0.90; recovery at 0.93.
    settings = worker_settings(
        topics,
        app_id=f"triggers-{uuid.uuid4().hex[:6]}",
        min_labelled=20,
        trigger_cooldown_s=20 * 60,
        max_consecutive_failures=100,  # these users fail a lot; lockouts are another test
        max_window_failures=1000,
    )
    start = base_time()
    accuracy = [1.0] * 10 + [0.5] * 5 + [1.0] * 10 + [0.5] * 15  # minutes 0..39
    events = [e for m, acc in enumerate(accuracy) for e in minute_of_attempts(start, m, acc)]
    async with running_worker(settings, tmp_path):
        await publish_all(producer, events)
        await wait_caught_up(settings)
        await flush(producer, settings, start + timedelta(minutes=60))
        # Every window up to the flush closes in one batch, with its triggers: a third one
        # would be out by the time the second is.
        found = await read_events(topics, "retrain.triggers", at_least=2)

    assert all(isinstance(t, RetrainTrigger) for t in found)
    triggers = sorted(found, key=lambda t: t.figures["window_end_s"])  # type: ignore[attr-defined]
    assert len(triggers) == 2, [t.figures for t in triggers]  # type: ignore[attr-defined]
    first, second = triggers
    assert isinstance(first, RetrainTrigger) and isinstance(second, RetrainTrigger)
    # Incident 1: the hopping window 12:07-12:12 is the first under 0.90 (24/30 x 3 + 15/30 x 2).
    assert first.figures["window_end_s"] == (start + timedelta(minutes=12)).timestamp()
    assert first.figures["accuracy"] == pytest.approx(0.8)
    assert first.figures["labelled"] == 150
    # Incident 2 starts at 12:27 but the cool-down (20 min after 12:12) holds it to 12:32.
    assert second.figures["window_end_s"] == (start + timedelta(minutes=32)).timestamp()
    assert second.figures["window_end_s"] - first.figures["window_end_s"] >= 20 * 60
    for trigger in triggers:
        assert isinstance(trigger, RetrainTrigger)
        assert trigger.reason is RetrainReason.ACCURACY_DROP
        # Both models decided every attempt: one trigger names both.
        assert sorted(trigger.models) == ["face-embedder", "voice-embedder"]
        assert trigger.figures["threshold"] == 0.9


async def test_lockouts_and_personalisation(
    topics: Settings, producer: EventProducer, tmp_path: Path
) -> None:
    settings = worker_settings(
        topics, app_id=f"security-{uuid.uuid4().hex[:6]}", lock_duration_s=300
    )
    start = base_time()
    mallory, alice = user_on(0, "mallory"), user_on(1, "alice")

    def rejects(first: int, count: int) -> list[Event]:
        return [
            decision(f"m-{i}", mallory, start + timedelta(seconds=i), Outcome.REJECT)
            for i in range(first, first + count)
        ]

    samples = [voice_sample(f"s-{i}", alice, start + timedelta(seconds=i)) for i in range(60)]
    samples.insert(10, voice_sample("s-3", alice, start + timedelta(seconds=10)))  # a repeat

    async with running_worker(settings, tmp_path):
        # Per-user order matters here: publish in order, one user per partition.
        for event in [*rejects(0, 8), *samples]:
            await producer.publish(event)
        await wait_caught_up(settings)
        locks = await read_events(topics, "security.lockouts", at_least=1, timeout_s=10)
        assert len(locks) == 1, "five failures in a row lock once; failures while locked do not"
        (lock,) = locks
        assert isinstance(lock, LockoutEvent)
        assert (lock.user_id, lock.action, lock.failures) == (mallory, LockAction.LOCK, 5)
        assert lock.until == start + timedelta(seconds=4 + 300)

        # An admin lifts the lock; counting starts over: five more failures, a second lock.
        unlock = LockoutEvent(
            producer="admin-console",
            user_id=mallory,
            action=LockAction.UNLOCK,
            reason="admin",
            requested_by="admin-1",
        )
        await producer.publish(unlock)
        await wait_caught_up(settings)
        for event in rejects(20, 4):
            await producer.publish(event)
        await wait_caught_up(settings)
        assert len(await read_events(topics, "security.lockouts", at_least=3, timeout_s=3)) == 2
        for event in rejects(24, 1):
            await producer.publish(event)
        lockout_events = await read_events(topics, "security.lockouts", at_least=3)

    ours = [
        e for e in lockout_events if isinstance(e, LockoutEvent) and e.action is LockAction.LOCK
    ]
    assert len(ours) == 2
    assert max(e.until for e in ours if e.until) == start + timedelta(seconds=24 + 300)

    personal = await read_events(topics, "retrain.triggers", at_least=1, timeout_s=10)
    assert len(personal) == 1, "the 50th distinct sample triggers once; later ones do not"
    (trigger,) = personal
    assert isinstance(trigger, RetrainTrigger)
    assert trigger.reason is RetrainReason.USER_SAMPLE_COUNT
    assert (trigger.user_id, trigger.models) == (alice, ["voice-embedder"])
    assert trigger.figures["samples"] == 50
    assert trigger.occurred_at == start + timedelta(seconds=49), "s-49 is the 50th distinct one"
