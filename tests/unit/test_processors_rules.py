"""Lockouts, accuracy incidents, personalisation and settings, without Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bench.support.synthetic import decision, voice_sample
from core.settings import ProcessorsSection, Settings
from schemas import (
    DecisionReason,
    LockAction,
    LockoutEvent,
    Outcome,
    RetrainReason,
    WindowKind,
)
from stream_processors import lockouts, triggers
from stream_processors.windows import PaneAccumulator

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CFG = ProcessorsSection(
    min_labelled=10,
    accuracy_threshold=0.9,
    recovery_accuracy=0.95,
    trigger_cooldown_s=1800,
    personalisation_samples=3,
)


def run(
    state: lockouts.LockState, outcomes: str, start_s: int = 0, *, prefix: str = "a"
) -> tuple[lockouts.LockState, list[LockoutEvent]]:
    """Feeds decisions written as letters: A accept, R reject, T retry, one a second apart."""
    kinds = {"A": Outcome.ACCEPT, "R": Outcome.REJECT, "T": Outcome.RETRY}
    locks = []
    for i, letter in enumerate(outcomes):
        at = T0 + timedelta(seconds=start_s + i)
        state, lock = lockouts.on_decision(
            state, decision(f"{prefix}{start_s + i}", "mallory", at, kinds[letter]), CFG
        )
        if lock is not None:
            locks.append(lock)
    return state, locks


def test_five_consecutive_failures_lock_once_and_retries_are_neutral() -> None:
    state, locks = run(lockouts.LockState(), "RRTRRAR")
    assert locks == [], "the accept broke the run"
    state, locks = run(state, "RRTRR", start_s=10)
    assert len(locks) == 1
    (lock,) = locks
    assert lock.action is LockAction.LOCK and lock.reason == "consecutive_failures"
    assert lock.failures == 5
    assert lock.until == T0 + timedelta(seconds=14 + CFG.lock_duration_s)
    # Failures while locked are not counted; nothing more is published.
    state, locks = run(state, "RRRRRR", start_s=16)
    assert locks == []
    assert state.consecutive == []


def test_locks_expire_with_the_next_decision_and_grow_until_a_success() -> None:
    state, (first,) = run(lockouts.LockState(), "RRRRR")
    after = int(CFG.lock_duration_s) + 10
    state, (second,) = run(state, "RRRRR", start_s=after)
    assert second.until is not None
    assert second.until - (T0 + timedelta(seconds=after + 4)) == timedelta(
        seconds=CFG.lock_duration_s * CFG.lock_growth
    )
    assert second.event_id != first.event_id
    later = after + 1000
    state, _ = run(state, "A", start_s=later)
    assert state.locked_until is None and state.locks_since_success == 0


def test_replayed_failures_are_not_counted_twice() -> None:
    state, _ = run(lockouts.LockState(), "RRRR")
    again, locks = run(state, "RRRR")  # the same attempt ids
    assert locks == [] and again.consecutive == state.consecutive


def test_too_many_failures_in_a_window_lock_even_with_successes_between() -> None:
    cfg = CFG.model_copy(update={"max_window_failures": 4, "failure_window_s": 60})
    state = lockouts.LockState()
    published = []
    for i, outcome in enumerate([Outcome.REJECT, Outcome.ACCEPT] * 4):
        at = T0 + timedelta(seconds=5 * i)
        state, lock = lockouts.on_decision(state, decision(f"w{i}", "eve", at, outcome), cfg)
        published += [lock] if lock else []
    assert [lock.reason for lock in published] == ["failure_rate"]
    # Failures spread wider than the window never add up.
    state = lockouts.LockState()
    for i in range(8):
        at = T0 + timedelta(seconds=30 * i)
        state, lock = lockouts.on_decision(
            state,
            decision(f"s{i}", "eve", at, Outcome.REJECT if i % 2 == 0 else Outcome.ACCEPT),
            cfg,
        )
        assert lock is None


def test_gateway_refusals_for_a_lock_do_not_count() -> None:
    state = lockouts.LockState()
    for i in range(10):
        at = T0 + timedelta(seconds=i)
        locked = decision(f"l{i}", "bob", at, Outcome.REJECT, reasons=[DecisionReason.LOCKED])
        state, lock = lockouts.on_decision(state, locked, CFG)
        assert lock is None
    assert state.consecutive == []


def test_admin_unlock_resets_and_own_events_are_ignored() -> None:
    state, (lock,) = run(lockouts.LockState(), "RRRRR")
    assert lockouts.on_lockout_event(state, lock, CFG) == state, "our own lock, read back"
    unlock = LockoutEvent(
        producer="admin-console",
        user_id="mallory",
        action=LockAction.UNLOCK,
        reason="admin",
        requested_by="admin-42",
    )
    state = lockouts.on_lockout_event(state, unlock, CFG)
    assert state == lockouts.LockState()
    _, locks = run(state, "RRRR", start_s=5)
    assert locks == [], "counting restarted from zero right away"
    admin_lock = LockoutEvent(
        producer="admin-console",
        user_id="mallory",
        action=LockAction.LOCK,
        reason="admin",
        until=T0 + timedelta(hours=1),
        requested_by="admin-42",
    )
    assert lockouts.on_lockout_event(state, admin_lock, CFG).locked_until == admin_lock.until


def window(correct: int, wrong: int) -> PaneAccumulator:
    return PaneAccumulator(labelled=correct + wrong, genuine=correct + wrong, false_rejects=wrong)


def test_one_trigger_per_incident_and_a_second_after_the_cool_down() -> None:
    watch = triggers.ModelWatch()
    readings = [
        (0, window(95, 5)),  # healthy
        (60, window(80, 20)),  # incident 1 starts: fires
        (120, window(70, 30)),  # still low: no second trigger
        (180, window(92, 8)),  # between the thresholds: still the same incident
        (240, window(85, 15)),
        (300, window(2, 1)),  # too few labelled attempts: ignored
        (360, window(97, 3)),  # recovered
        (420, window(80, 20)),  # incident 2, inside the cool-down: held back
        (1800, window(80, 20)),  # still low, cool-down not over (60 + 1800 = 1860)
        (1860, window(85, 15)),  # cool-down over, incident still on: fires
        (1920, window(80, 20)),
    ]
    fired = [end for end, acc in readings if triggers.read_window(watch, "1.2.0", acc, end, CFG)]
    assert fired == [60, 1860]
    assert watch.triggers == 2
    again = triggers.ModelWatch.model_validate_json(watch.model_dump_json())
    assert again == watch


def test_models_firing_together_share_one_trigger() -> None:
    worse, bad = window(60, 40), window(80, 20)
    trigger = triggers.accuracy_trigger(
        [
            triggers.Firing("voice-embedder", "1.0.0", bad),
            triggers.Firing("face-embedder", "1.2.0", worse),
        ],
        end=1_748_779_500,
        size_s=300,
        cfg=CFG,
    )
    assert trigger.reason is RetrainReason.ACCURACY_DROP
    assert trigger.models == ["face-embedder", "voice-embedder"], "worst first"
    assert trigger.figures["accuracy"] == 0.6 and trigger.figures["labelled"] == 100
    assert trigger.figures["accuracy_voice_embedder"] == 0.8
    assert trigger.figures["window_end_s"] - trigger.figures["window_start_s"] == 300
    assert trigger.figures["frr"] == 0.4 and "far" not in trigger.figures
    same = triggers.accuracy_trigger(
        [
            triggers.Firing("face-embedder", "1.2.0", worse),
            triggers.Firing("voice-embedder", "1.0.0", bad),
        ],
        end=1_748_779_500,
        size_s=300,
        cfg=CFG,
    )
    assert (same.trigger_id, same.event_id) == (trigger.trigger_id, trigger.event_id)


def test_personalisation_fires_once_at_the_threshold() -> None:
    state = triggers.SampleCount()
    fired = []
    ids = ["s1", "s2", "s2", "s3", "s4", "s5"]  # s2 twice: counted once
    for i, sample_id in enumerate(ids):
        sample = voice_sample(sample_id, "alice", T0 + timedelta(seconds=i))
        state, trigger = triggers.count_sample(state, sample, CFG)
        fired += [trigger] if trigger else []
    assert len(fired) == 1
    (trigger,) = fired
    assert trigger.reason is RetrainReason.USER_SAMPLE_COUNT
    assert trigger.user_id == "alice" and trigger.models == ["voice-embedder"]
    assert trigger.figures["samples"] == 3
    assert state.triggered and state.sample_ids == []


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIBALOCK_PROCESSORS__TUMBLING_WINDOW_S", "30")
    monkeypatch.setenv("KIBALOCK_PROCESSORS__TRIGGER_WINDOW", "tumbling")
    monkeypatch.setenv("KIBALOCK_PROCESSORS__ACCURACY_THRESHOLD", "0.85")
    cfg = Settings().processors
    assert cfg.tumbling_window_s == 30 and cfg.trigger_window is WindowKind.TUMBLING
    assert cfg.accuracy_threshold == 0.85 and cfg.pane_s == 30
    assert cfg.max_consecutive_failures == 5 and cfg.personalisation_samples == 50


def test_settings_refuse_incoherent_windows_and_thresholds() -> None:
    with pytest.raises(ValidationError, match="multiple"):
        ProcessorsSection(hopping_window_s=300, hopping_step_s=70)
    with pytest.raises(ValidationError, match="recovery_accuracy"):
        ProcessorsSection(accuracy_threshold=0.9, recovery_accuracy=0.8)
