"""Shared helpers of the processors' integration tests (this module holds no test).

Each test runs ``python -m stream_processors`` in its own topic namespace, scripts events with
the ``producer`` fixture and reads results back with ``read_topic``. Event times are scripted
two hours in the past; the workers' idle rule is set far out, so windows close only when the
test pushes every input partition past them (``flush``), never because a slow CI paused.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2

from bench.support.runner import Scrape, WorkerProcess
from bench.support.synthetic import decision, feedback, quality
from core.bus import EventProducer, topic_name
from core.kafka_client import client_options
from core.settings import ProcessorsSection, Settings
from devstack.process import free_port
from schemas import TOPICS, Event, FeedbackLabel, Outcome, decode
from stream_processors.app import INPUTS
from tests.integration.kafka_reader import read_topic

PARTITIONS = TOPICS["auth.decisions"].partitions


def base_time() -> datetime:
    """Two hours ago, on a 10-minute boundary (windows then start on round minutes)."""
    now = datetime.now(UTC) - timedelta(hours=2)
    return now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)


def worker_settings(settings: Settings, **overrides: object) -> Settings:
    """``settings`` with the processors section a test worker runs with."""
    values: dict[str, object] = {
        "http_port": free_port(),
        "source_idle_wall_s": 3600.0,
        "commit_interval_s": 0.5,
        "session_timeout_s": 6.0,  # a killed worker's partitions move on quickly
        "sweep_interval_wall_s": 1.0,
    }
    values.update(overrides)
    return settings.model_copy(update={"processors": ProcessorsSection.model_validate(values)})


def partition_of(key: str) -> int:
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


def user_on(partition: int, stem: str = "flush") -> str:
    """A user id whose records land on ``partition`` (the producers' murmur2 partitioner)."""
    return next(
        f"{stem}-{i}" for i in itertools.count() if partition_of(f"{stem}-{i}") == partition
    )


async def publish_all(producer: EventProducer, events: Iterable[Event], chunk: int = 200) -> None:
    """Publishes concurrently in chunks; order across records is not guaranteed."""
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) == chunk:
            await asyncio.gather(*(producer.publish(e) for e in batch))
            batch = []
    await asyncio.gather(*(producer.publish(e) for e in batch))


async def eventually(
    probe: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await probe():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def handled(worker: WorkerProcess) -> float:
    """Input records the worker has handled or dead-lettered so far."""
    scrape: Scrape = await worker.scrape()
    return scrape.total("kibalock_processor_records_total")


async def wait_caught_up(settings: Settings, timeout_s: float = 90.0) -> None:
    """Until the worker has handled and committed every input record published so far.

    Committed offsets, not counters: after a restart the worker handles replayed records again.
    """
    group = f"{settings.kafka.topic_prefix}{settings.processors.app_id}"
    inputs = {topic_name(settings, t): TOPICS[t].partitions for t in INPUTS}

    async def done() -> bool:
        return await committed_through(settings, group, inputs)

    await eventually(done, "the worker to catch up", timeout_s)


async def flush(producer: EventProducer, settings: Settings, at: datetime) -> None:
    """Moves every input partition's event time to ``at`` so earlier windows close.

    Decisions and quality reports first, then (once handled) the feedback that completes them:
    a label observed from the feedback partition moves that partition too.
    """
    users = [user_on(p) for p in range(PARTITIONS)]
    firsts: list[Event] = []
    for user in users:
        firsts.append(decision(f"flush-{user}", user, at, Outcome.ACCEPT))
        firsts.append(quality(f"flush-{user}", user, at, face=0.5, voice=0.5))
    await publish_all(producer, firsts)
    await wait_caught_up(settings)
    await publish_all(
        producer, [feedback(f"flush-{u}", u, at, FeedbackLabel.GENUINE) for u in users]
    )


async def read_events(
    settings: Settings, logical: str, at_least: int, timeout_s: float = 60.0
) -> list[Event]:
    """The distinct events of a topic (by event_id, the last copy wins)."""
    records = await read_topic(settings, logical, at_least=at_least, timeout_s=timeout_s)
    events = {}
    for record in records:
        event = decode(logical, record.value, record.headers)
        events[event.event_id] = event
    return list(events.values())


async def committed_through(settings: Settings, group: str, topics: dict[str, int]) -> bool:
    """Whether the group has committed every partition of these topics (physical name →
    partition count) up to its end."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    consumer = AIOKafkaConsumer(**client_options(settings))
    await admin.start()
    await consumer.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(t, p) for t, count in topics.items() for p in range(count)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
        await admin.close()
    return all(
        end == 0 or (tp in offsets and offsets[tp].offset >= end) for tp, end in ends.items()
    )


@asynccontextmanager
async def running_worker(settings: Settings, log_dir: Path) -> AsyncIterator[WorkerProcess]:
    worker = WorkerProcess(settings, log_dir / "worker.log")
    worker.start()
    try:
        await worker.wait_healthy(timeout_s=90)
        yield worker
    finally:
        code = worker.stop()
    assert code == 0, f"SIGTERM should stop the worker cleanly; see {worker.log_path}"
