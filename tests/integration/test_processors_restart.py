"""Kill the worker mid-stream (SIGKILL) and restart it: counts continue from the changelogs."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bench.support.runner import WorkerProcess
from core.bus import EventProducer
from core.settings import Settings
from schemas import Event, LockAction, LockoutEvent, MetricWindow, Outcome
from tests.integration.test_processors_metrics import (
    Scripted,
    event_time,
    events_of,
    expected_windows,
    script,
)
from tests.integration.test_processors_support import (
    base_time,
    committed_through,
    eventually,
    flush,
    handled,
    publish_all,
    read_events,
    user_on,
    wait_caught_up,
    worker_settings,
)

pytestmark = pytest.mark.integration


async def test_a_killed_worker_resumes_its_counts(
    topics: Settings, producer: EventProducer, tmp_path: Path
) -> None:
    settings = worker_settings(
        topics, app_id=f"restart-{uuid.uuid4().hex[:6]}", lock_duration_s=600
    )
    group = f"{topics.kafka.topic_prefix}{settings.processors.app_id}"
    start = base_time()
    mallory = user_on(2, "mallory")
    attempts = [
        replace(a, feedback_first=False) for a in script(start, n=240)
    ] + [  # three failures before the kill, two after: one lock only if the count survived
        Scripted(
            f"m-{s}",
            mallory,
            "term-a",
            {"face-embedder": "1.2.0"},
            Outcome.REJECT,
            start + timedelta(seconds=s),
            150.0,
            0.1,
            None,
            None,
            False,
            None,
            None,
        )
        for s in (10, 11, 12, 250, 251)
    ]
    events: list[Event] = sorted(
        (e for a in attempts for part in events_of(a) for e in part), key=event_time
    )
    cut1, cut2 = start + timedelta(minutes=2), start + timedelta(seconds=210)
    part1 = [e for e in events if event_time(e) < cut1]
    part2a = [e for e in events if cut1 <= event_time(e) < cut2]
    part2b = [e for e in events if event_time(e) >= cut2]
    assert part1 and part2a and part2b

    first = WorkerProcess(settings, tmp_path / "worker-1.log")
    first.start()
    try:
        await first.wait_healthy()
        await publish_all(producer, part1)
        # Part 1 is committed, by both stages: it will not be read again, its counts live in
        # the changelogs only.
        await wait_caught_up(settings)

        async def stage2_committed() -> bool:
            return await committed_through(topics, group, {f"{group}-observations": 1})

        await eventually(stage2_committed, "the metrics stage to commit part 1")
        await publish_all(producer, part2a)

        async def busy() -> bool:
            return await handled(first) > len(part1)

        await eventually(busy, "the worker into part 2")
    finally:
        first.kill()

    second = WorkerProcess(settings, tmp_path / "worker-2.log")
    second.start()
    try:
        await second.wait_healthy()
        await publish_all(producer, part2b)
        await wait_caught_up(settings)
        flush_at = start + timedelta(minutes=20)
        await flush(producer, settings, flush_at)
        last_end = flush_at - timedelta(seconds=settings.processors.allowed_lateness_s)
        want = expected_windows(attempts, last_end)
        metrics = await read_events(topics, "metrics", at_least=len(want))
        lockouts = await read_events(topics, "security.lockouts", at_least=1)
    finally:
        second.stop()

    got = {
        (m.dimension.value, m.dimension_value, m.window_kind, int(m.window_end.timestamp())): m
        for m in metrics
        if isinstance(m, MetricWindow)
        and m.window_end <= last_end
        and "flush" not in str(m.dimension_value)
    }
    assert set(got) == set(want)
    for key, f in want.items():
        c = got[key].counts
        # Replayed records (part 2a after the kill) are recognised, not counted twice.
        assert (
            c.attempts,
            c.labelled,
            c.genuine,
            c.impostor,
            c.false_accepts,
            c.false_rejects,
        ) == (f["attempts"], f["labelled"], f["genuine"], f["impostor"], f["fa"], f["fr"]), key
    locks = [
        e
        for e in lockouts
        if isinstance(e, LockoutEvent) and e.user_id == mallory and e.action is LockAction.LOCK
    ]
    assert len(locks) == 1 and locks[0].failures == 5
    assert locks[0].until == start + timedelta(seconds=251 + 600)
