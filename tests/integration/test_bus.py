"""The bus on a real broker: round trips, dead letters, commits, a broker restart."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiokafka.admin import AIOKafkaAdminClient

from core.bus import ConsumerLoop, EventProducer, EventReader, topic_name
from core.kafka_client import client_options
from core.settings import Settings
from devstack import stack
from schemas import TOPICS, AuthAttempt, Event, decode, encode
from schemas.examples import example_events
from tests.integration.kafka_reader import read_topic


async def _run_loop_until(loop: ConsumerLoop, done: asyncio.Event, timeout_s: float = 45) -> None:
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        loop.stop()
        await task


async def test_every_event_type_round_trips(topics: Settings, producer: EventProducer) -> None:
    events = example_events()
    assert {type(e) for e in events} == {
        cls for spec in TOPICS.values() for cls in spec.event_types
    }
    for event in events:
        await producer.publish(event)

    received: list[Event] = []
    done = asyncio.Event()

    async def handle(event: Event, _record: object) -> None:
        received.append(event)
        if len(received) == len(events):
            done.set()

    loop = ConsumerLoop(list(TOPICS), f"rt-{uuid.uuid4()}", handle, producer, settings=topics)
    await _run_loop_until(loop, done)
    assert sorted(received, key=lambda e: str(e.event_id)) == sorted(
        events, key=lambda e: str(e.event_id)
    )
    assert loop.dead_lettered == 0


async def test_bad_bytes_and_unknown_version_go_to_deadletter(
    topics: Settings, producer: EventProducer
) -> None:
    good = next(e for e in example_events() if isinstance(e, AuthAttempt))
    unknown_version = json.loads(encode(good).value)
    unknown_version["version"] = 99
    unknown_version["event_id"] = str(uuid.uuid4())
    garbage = b"\x00\xffnot json at all"
    # The good record's own key: one partition, so it is handled after the bad ones (the loop
    # stops at the good one; on another partition the bad ones could still be waiting).
    key = good.key().encode()
    await producer.publish_raw("auth.attempts", garbage, key=key)
    await producer.publish_raw("auth.attempts", json.dumps(unknown_version).encode(), key=key)
    await producer.publish(good)

    handled: list[Event] = []
    done = asyncio.Event()

    async def handle(event: Event, _record: object) -> None:
        handled.append(event)
        done.set()

    group = f"dl-{uuid.uuid4()}"
    loop = ConsumerLoop(["auth.attempts"], group, handle, producer, settings=topics)
    await _run_loop_until(loop, done)

    assert handled == [good], "the consumer carried on past the bad records"
    assert (loop.dead_lettered, loop.dead_letters_lost) == (2, 0)
    letters = [
        decode("deadletter", r.value) for r in await read_topic(topics, "deadletter", at_least=2)
    ]
    by_reason = {letter.error_reason: letter for letter in letters}  # type: ignore[attr-defined]
    assert set(by_reason) == {"malformed", "unknown_version"}
    assert by_reason["malformed"].original_value_bytes() == garbage  # type: ignore[attr-defined]
    assert by_reason["malformed"].source_topic == "auth.attempts"  # type: ignore[attr-defined]
    assert json.loads(by_reason["unknown_version"].original_value_bytes())["version"] == 99  # type: ignore[attr-defined]

    # Committed past all three records: a restarted consumer would not see them again.
    admin = AIOKafkaAdminClient(**client_options(topics))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    assert sum(meta.offset for meta in offsets.values()) == 3
    assert all(tp.topic == topic_name(topics, "auth.attempts") for tp in offsets)


def _two_attempts() -> tuple[AuthAttempt, AuthAttempt]:
    (first,) = [e for e in example_events() if isinstance(e, AuthAttempt)][:1]
    return first, first.model_copy(update={"event_id": uuid.uuid4(), "attempt_id": "a-second"})


async def test_reader_reads_from_the_beginning_and_skips_bad_records(
    topics: Settings, producer: EventProducer
) -> None:
    first, second = _two_attempts()
    await producer.publish(first)
    await producer.publish_raw("auth.attempts", b"not json", key=b"u1")
    await producer.publish(second)

    read: list[Event] = []
    async with EventReader(["auth.attempts"], topics) as reader:
        for _ in range(60):
            read += await reader.read()
            if len(read) >= 2:
                break
    assert read == [first, second]


async def test_failing_handler_dead_letters_and_moves_on(
    topics: Settings, producer: EventProducer
) -> None:
    first, second = _two_attempts()
    await producer.publish(first)
    await producer.publish(second)
    seen: list[str] = []
    done = asyncio.Event()

    async def handle(event: Event, _record: object) -> None:
        assert isinstance(event, AuthAttempt)
        seen.append(event.attempt_id)
        if event.attempt_id == first.attempt_id:
            raise RuntimeError("handler bug")
        done.set()

    loop = ConsumerLoop(
        ["auth.attempts"],
        f"hf-{uuid.uuid4()}",
        handle,
        producer,
        settings=topics,
        handler_attempts=2,
    )
    await _run_loop_until(loop, done)
    assert seen == [first.attempt_id, first.attempt_id, "a-second"]
    (letter,) = [
        decode("deadletter", r.value) for r in await read_topic(topics, "deadletter", at_least=1)
    ]
    assert letter.error_reason == "processing_failed"  # type: ignore[attr-defined]


async def test_no_record_stops_the_consumer(topics: Settings, producer: EventProducer) -> None:
    # The audit's three killers: nesting that breaks json.loads, more headers than a dead
    # letter may hold, and a value too big to be carried whole.
    first, _ = _two_attempts()
    key = first.key().encode()  # one partition: the good record comes after the bad ones
    await producer.publish_raw("auth.attempts", b"[" * 100_000, key=key)
    many_headers = [(f"x-{i}", b"v") for i in range(300)]
    await producer.publish_raw("auth.attempts", b"{}", key=key, headers=many_headers)
    await producer.publish_raw("auth.attempts", b"x" * 1_000_000, key=key)
    await producer.publish(first)
    handled: list[Event] = []
    done = asyncio.Event()

    async def handle(event: Event, _record: object) -> None:
        handled.append(event)
        done.set()

    loop = ConsumerLoop(["auth.attempts"], f"hr-{uuid.uuid4()}", handle, producer, settings=topics)
    await _run_loop_until(loop, done)
    assert handled == [first]
    assert (loop.dead_lettered, loop.dead_letters_lost) == (3, 0)
    letters = [
        decode("deadletter", r.value) for r in await read_topic(topics, "deadletter", at_least=3)
    ]
    assert all(letter.error_reason == "malformed" for letter in letters)  # type: ignore[attr-defined]
    assert any("44 headers" in letter.error_message for letter in letters)  # type: ignore[attr-defined]


async def test_an_outage_is_waited_out_not_dead_lettered(
    topics: Settings, producer: EventProducer
) -> None:
    first, _ = _two_attempts()
    await producer.publish(first)
    calls = 0
    done = asyncio.Event()

    async def handle(event: Event, _record: object) -> None:
        nonlocal calls
        calls += 1
        if calls <= 5:  # more failures than handler_attempts: a bug would be dead-lettered
            raise ConnectionRefusedError("mongo is restarting")
        done.set()

    loop = ConsumerLoop(
        ["auth.attempts"],
        f"out-{uuid.uuid4()}",
        handle,
        producer,
        settings=topics,
        handler_attempts=2,
        max_backoff_s=0.4,
    )
    await _run_loop_until(loop, done)
    assert (calls, loop.handled, loop.dead_lettered, loop.outage_retries) == (6, 1, 0, 5)


async def test_a_dead_letter_that_cannot_be_written_is_skipped(
    topics: Settings, producer: EventProducer
) -> None:
    first, _ = _two_attempts()
    await producer.publish_raw("auth.attempts", b"not json", key=first.key().encode())
    await producer.publish(first)
    done = asyncio.Event()

    async def handle(_event: Event, _record: object) -> None:
        done.set()

    class BrokenDeadLetters(EventProducer):
        async def publish(self, event: Event, *, timeout_s: float = 60.0) -> tuple[int, int]:
            raise RuntimeError("deadletter topic unavailable")

    async with BrokenDeadLetters(topics) as broken:
        loop = ConsumerLoop(
            ["auth.attempts"], f"lost-{uuid.uuid4()}", handle, broken, settings=topics
        )
        await _run_loop_until(loop, done)
    assert (loop.handled, loop.dead_lettered, loop.dead_letters_lost) == (1, 0, 1)


async def test_producing_across_a_kafka_restart_loses_nothing(
    topics: Settings, producer: EventProducer
) -> None:
    template = next(e for e in example_events() if isinstance(e, AuthAttempt))
    sent: list[str] = []

    async def produce(n: int) -> None:
        for i in range(n):
            event = template.model_copy(update={"event_id": uuid.uuid4(), "attempt_id": f"r-{i}"})
            await producer.publish(event, timeout_s=120)
            sent.append(event.attempt_id)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(produce(300))
    await asyncio.sleep(1.0)  # let a first part of the stream through before the restart
    assert sent, "nothing was produced before the restart"
    await stack.restart(topics, "kafka")
    await asyncio.wait_for(task, 180)

    records = await read_topic(topics, "auth.attempts", at_least=len(sent), timeout_s=60)
    got = {decode("auth.attempts", r.value).attempt_id for r in records}  # type: ignore[attr-defined]
    assert got == set(sent), f"lost {len(set(sent) - got)} of {len(sent)} events"
