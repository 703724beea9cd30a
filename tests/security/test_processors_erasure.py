"""Audit finding 13 (the processors' tables), on the real stack: a worker that reads an erased
user's tombstone on ``security.lockouts`` forgets their failure run, and its own changelog ends
the user's entry with a tombstone too."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from bench.support.synthetic import decision
from core.bus import EventProducer
from core.settings import Settings
from schemas import AuthDecision, LockoutEvent, decode
from schemas.enums import Outcome
from tests.integration.kafka_reader import read_topic
from tests.integration.test_processors_support import (
    base_time,
    running_worker,
    user_on,
    wait_caught_up,
    worker_settings,
)


async def test_an_erased_users_failures_are_forgotten(
    topics: Settings, producer: EventProducer, tmp_path: Path
) -> None:
    app_id = f"erasure-{uuid.uuid4().hex[:6]}"
    settings = worker_settings(topics, app_id=app_id, lock_duration_s=300)
    start = base_time()
    eve = user_on(0, "eve")

    def rejects(first: int, count: int) -> list[AuthDecision]:
        return [
            decision(f"e-{i}", eve, start + timedelta(seconds=i), Outcome.REJECT)
            for i in range(first, first + count)
        ]

    async with running_worker(settings, tmp_path):
        for event in rejects(0, 4):  # one short of a lock
            await producer.publish(event)
        await wait_caught_up(settings)
        await producer.publish_raw("security.lockouts", None, key=eve.encode())
        await wait_caught_up(settings)
        for event in rejects(4, 1):  # would be the fifth in a row, had the run been kept
            await producer.publish(event)
        await wait_caught_up(settings)

    records = await read_topic(topics, "security.lockouts", at_least=1, timeout_s=5)
    locks = [
        said
        for r in records
        if r.value is not None
        and isinstance(said := decode("security.lockouts", r.value, r.headers), LockoutEvent)
        and said.user_id == eve
    ]
    assert locks == [], "the failures before the erasure still counted"
    changelog = await read_topic(topics, f"{app_id}-lockouts-changelog", at_least=2, timeout_s=5)
    mine = [r for r in changelog if r.key is not None and eve.encode() in r.key]
    assert any(r.value is None for r in mine), "the worker's changelog still holds the user"
