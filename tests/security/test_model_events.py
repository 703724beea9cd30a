"""Audit finding 21, on the real broker: a restarted gateway leaves no new consumer group
behind and does not replay old activations, yet still hears a version announced while it was
down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from auth_gateway.service import model_event_loops
from core.bus import EventProducer, ensure_topics
from core.kafka_client import client_options
from core.settings import Settings
from schemas import Event, ModelActivation, ModelPublished
from schemas.examples import example_events
from tests.stack_kit import namespaced

Heard = list[tuple[str, str]]


def _examples() -> tuple[ModelPublished, ModelActivation]:
    events = example_events()
    published = next(e for e in events if isinstance(e, ModelPublished))
    activation = next(e for e in events if isinstance(e, ModelActivation))
    return published, activation


def _announced(version: str) -> ModelPublished:
    # The version is named in the artifact's and the manifest's keys too.
    example = _examples()[0]
    text = example.model_dump_json().replace(example.model_version, version)
    return ModelPublished.model_validate_json(text)


def _activated(version: str) -> ModelActivation:
    return _examples()[1].model_copy(update={"model_version": version})


async def _until(check: Callable[[], bool], act: Callable[[], Awaitable[object]]) -> None:
    """Does ``act`` every half second until ``check`` holds (30 s at most)."""
    for _ in range(60):
        await act()
        await asyncio.sleep(0.5)
        if check():
            return
    raise AssertionError("timed out")


async def _lifetime(
    settings: Settings,
    instance_id: str,
    producer: EventProducer,
    announced: str,
    activated: str,
) -> Heard:
    """One run of an instance's model-event readers, until it has heard version ``announced``
    (published before it started) and an activation of ``activated`` (made while it runs)."""
    heard: Heard = []

    async def handler(event: Event, _: ConsumerRecord[bytes, bytes]) -> None:
        assert isinstance(event, ModelPublished | ModelActivation)
        heard.append((type(event).__name__, event.model_version))

    loops = model_event_loops(settings, instance_id, handler, producer)
    tasks = [asyncio.create_task(loop.run()) for loop in loops]
    try:
        await _until(lambda: ("ModelPublished", announced) in heard, lambda: asyncio.sleep(0))
        # Repeated until heard: the reader may be positioned after the first one.
        await _until(
            lambda: ("ModelActivation", activated) in heard,
            lambda: producer.publish(_activated(activated)),
        )
    finally:
        for loop in loops:
            loop.stop()
        await asyncio.gather(*tasks)
    return heard


async def _groups_of(settings: Settings, instances: list[str]) -> list[str]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        groups = [g for g, _ in await admin.list_consumer_groups()]
    finally:
        await admin.close()
    return [g for g in groups if any(i in g for i in instances)]


async def test_a_restarted_gateway_leaves_no_group_and_replays_no_activation(
    base_settings: Settings,
) -> None:
    settings = namespaced(base_settings, "me")
    await ensure_topics(settings)
    tag = uuid.uuid4().hex[:6]
    # The default instance id is hostname-pid: each restart is a new one.
    first, second = f"host-{tag}-101", f"host-{tag}-202"
    async with EventProducer(settings, producer_name="tests") as producer:
        await producer.publish(_announced("1.1.0"))
        await producer.publish(_activated("1.1.0"))

        heard = await _lifetime(settings, first, producer, "1.1.0", "1.2.0")
        assert ("ModelActivation", "1.1.0") not in heard, "an old activation was replayed"
        after_first = await _groups_of(settings, [first, second])

        await producer.publish(_announced("1.3.0"))  # while no instance runs
        heard = await _lifetime(settings, second, producer, "1.3.0", "1.4.0")
        assert not {("ModelActivation", "1.1.0"), ("ModelActivation", "1.2.0")} & set(heard)
        after_second = await _groups_of(settings, [first, second])

    assert len(after_second) <= len(after_first), after_second
