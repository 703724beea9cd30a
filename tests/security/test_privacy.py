"""Audit finding 13, on the real stack: erasure reaches the compacted lockouts topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.handlers import consumer_of, tombstones_of
from core.bus import ConsumerLoop
from core.settings import Settings
from schemas import LockoutEvent
from schemas.enums import LockAction
from tests.integration.gateway_kit import running_gateway
from tests.integration.kafka_reader import read_topic
from tests.stack_kit import namespaced, with_gateway_keys


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Settings:
    return with_gateway_keys(namespaced(base_settings, "pv"), "pv-admin-key")


@pytest.fixture(scope="module")
async def gateway(settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    async with running_gateway(settings, analyser) as gw:
        yield gw


async def test_erasure_leaves_a_tombstone_that_consumers_skip(
    gateway: Gateway, settings: Settings
) -> None:
    user = f"erased-{uuid.uuid4().hex[:6]}"
    lock = LockoutEvent(
        producer="stream-processors",
        user_id=user,
        action=LockAction.LOCK,
        reason="consecutive_failures",
        until=datetime.now(UTC) + timedelta(minutes=5),
        requested_by="stream-processors",
    )
    await gateway.producer.publish(lock)
    await gateway.erase_user(user)

    records = await read_topic(settings, "security.lockouts", at_least=2)
    mine = [r for r in records if r.key == user.encode()]
    assert mine[-1].value is None, "the user's last lockouts record is a tombstone"

    # A gateway replaying the topic reads the tombstone as "forget that user", not as a bad
    # record: the lock it read first does not come back.
    loop = ConsumerLoop(
        ["security.lockouts"],
        f"pv-{uuid.uuid4().hex[:6]}",
        consumer_of(gateway),
        gateway.producer,
        settings=settings,
        on_tombstone=tombstones_of(gateway),
    )
    task = asyncio.create_task(loop.run())
    for _ in range(120):
        await asyncio.sleep(0.25)
        if loop.handled + loop.tombstones >= 2:
            break
    loop.stop()
    await task
    assert (loop.tombstones, loop.dead_lettered) == (1, 0)
    assert await gateway.lockouts.locked_until(user) is None
