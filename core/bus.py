"""The event bus: Kafka topics from the catalog, a safe producer, a consumer loop and a reader.

- The producer waits for all in-sync replicas (``acks=all``) with idempotence on, and keeps
  retrying a publish across a broker restart until ``publish_timeout_s`` runs out.
- The consumer loop commits offsets only after the handler returned (at-least-once; handlers are
  idempotent by their natural id). Bytes that do not decode into a known event, and events whose
  handler keeps failing, go to ``deadletter`` with the source, offset, reason and original bytes;
  the loop then carries on. A handler failing because a store or the broker is away
  (:func:`core.transient.is_transient`) is retried with growing delays instead, for as long as
  the outage lasts: an outage is not the record's fault. No record can stop the loop: decoding
  is total, and a dead letter that cannot be written is logged and counted, not raised.
- The reader reads topics from their beginning outside any consumer group, committing nothing:
  for tools that look at what was published (the demo), never for a service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    for_code,
)

from core.kafka_client import client_options
from core.logging import get_logger
from core.settings import Settings, get_settings
from core.transient import is_transient
from schemas import TOPICS, DecodeError, Event, dead_letter_for, decode, encode

log = get_logger(__name__)

Handler = Callable[[Event, ConsumerRecord[bytes, bytes]], Awaitable[None]]
# (logical topic, key) of a tombstone: a key erased from a compacted topic.
TombstoneHandler = Callable[[str, bytes], Awaitable[None]]
DEADLETTER = "deadletter"


def topic_name(settings: Settings, logical: str) -> str:
    """Physical topic of a catalog topic, under the configured prefix."""
    return f"{settings.kafka.topic_prefix}{logical}"


def _topic_configs(name: str, *, compacted: bool) -> dict[str, str]:
    configs = {"cleanup.policy": "compact"} if compacted else {}
    if name == DEADLETTER:
        # A dead letter carries the original record base64-encoded: a third larger.
        configs["max.message.bytes"] = str(4 * 1024 * 1024)
    return configs


async def ensure_topics(settings: Settings | None = None) -> list[str]:
    """Creates every catalog topic that does not exist yet; returns the ones created.

    On a broker with ACLs a service's principal may neither see nor create the topics it does
    not use: those are the administrator's to create (``kibalock stack up`` does), and are
    skipped. Any other refusal raises."""
    settings = settings or get_settings()
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=topic_name(settings, spec.name),
                num_partitions=spec.partitions,
                replication_factor=settings.kafka.replication_factor,
                topic_configs=_topic_configs(spec.name, compacted=spec.compacted),
            )
            for spec in TOPICS.values()
            if topic_name(settings, spec.name) not in existing
        ]
        if not wanted:
            return []
        response = await admin.create_topics(wanted)
        created, refused = [], []
        for name, code, *rest in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code == TopicAuthorizationFailedError.errno:
                refused.append(name)
            # Another process may create a topic between our listing and our request.
            elif code != TopicAlreadyExistsError.errno:
                raise for_code(code)(f"topic {name} not created: {rest[0] if rest else ''}")
        if refused:
            log.info("topics left to the administrator (not ours to create)", topics=refused)
        await _until_listed(admin, set(created))
        return created
    finally:
        await admin.close()


async def _until_listed(
    admin: AIOKafkaAdminClient, names: set[str], timeout_s: float = 30.0
) -> None:
    """Waits until the broker lists ``names``: a KRaft broker answers the creation before its
    metadata has them, and a producer asking for them in between gets "unknown topic"."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while names and loop.time() < deadline:
        names -= set(await admin.list_topics())
        if names:
            await asyncio.sleep(0.2)
    if names:
        log.warning("created topics not listed yet", topics=sorted(names))


class EventProducer:
    def __init__(
        self, settings: Settings | None = None, *, producer_name: str = "kibalock"
    ) -> None:
        self.settings = settings or get_settings()
        self.producer_name = producer_name
        self._producer = AIOKafkaProducer(
            **client_options(self.settings),
            client_id=f"{self.settings.kafka.client_id}-{producer_name}",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            # Dead letters carry the original record: up to the deadletter topic's 4 MiB.
            max_request_size=4 * 1024 * 1024,
            request_timeout_ms=15_000,
            retry_backoff_ms=250,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> EventProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def publish(self, event: Event, *, timeout_s: float = 60.0) -> tuple[int, int]:
        """Sends an event to its catalog topic; returns (partition, offset) once acknowledged."""
        encoded = encode(event)
        return await self.publish_raw(
            encoded.topic,
            encoded.value,
            key=encoded.key,
            headers=encoded.headers,
            timeout_s=timeout_s,
        )

    async def publish_raw(
        self,
        logical_topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        timeout_s: float = 60.0,
    ) -> tuple[int, int]:
        """Sends bytes as they are (dead letters, and tests of malformed input)."""
        topic = topic_name(self.settings, logical_topic)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                meta = await self._producer.send_and_wait(
                    topic, value, key=key, headers=list(headers or [])
                )
                return meta.partition, meta.offset
            except (KafkaTimeoutError, KafkaConnectionError) as exc:
                # The broker is away (restart, leader move): keep the event and try again.
                if loop.time() >= deadline:
                    raise
                log.warning("publish retry", topic=topic, error=str(exc))
                await asyncio.sleep(0.5)


class EventReader:
    """Reads catalog topics from the beginning, without a consumer group (nothing committed)."""

    def __init__(self, topics: Sequence[str], settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        unknown = [t for t in topics if t not in TOPICS]
        if unknown:
            raise ValueError(f"not catalog topics: {unknown}")
        self._prefix = self.settings.kafka.topic_prefix
        self._consumer = AIOKafkaConsumer(
            *(topic_name(self.settings, t) for t in topics),
            **client_options(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    async def __aenter__(self) -> EventReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def read(self, timeout_s: float = 0.5) -> list[Event]:
        """The events that arrived within ``timeout_s`` (maybe none); a record that does not
        decode is logged and skipped."""
        events: list[Event] = []
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000))
        for records in batches.values():
            for record in records:
                logical = record.topic.removeprefix(self._prefix)
                try:
                    events.append(decode(logical, record.value, record.headers))
                except DecodeError as exc:
                    log.warning("undecodable record skipped", topic=logical, error=str(exc))
        return events


class ConsumerLoop:
    """Consumes catalog topics in a group, hands each decoded event to ``handler``.

    Not ``grouped``: the loop joins no consumer group, so it reads every partition, commits
    nothing and starts at ``start`` each time it runs; ``group_id`` then only names it (client
    id, dead letters). For topics every process must read whole, where a group per process
    would leave one more group on the broker at each restart.
    """

    def __init__(
        self,
        topics: Sequence[str],
        group_id: str,
        handler: Handler,
        producer: EventProducer,
        *,
        settings: Settings | None = None,
        handler_attempts: int = 3,
        max_records: int = 100,
        max_backoff_s: float = 30.0,
        on_tombstone: TombstoneHandler | None = None,
        grouped: bool = True,
        start: Literal["earliest", "latest"] = "earliest",
    ) -> None:
        self.settings = settings or get_settings()
        unknown = [t for t in topics if t not in TOPICS]
        if unknown:
            raise ValueError(f"not catalog topics: {unknown}")
        self.topics = list(topics)
        self.group_id = group_id
        self.handler = handler
        self.producer = producer
        self.handler_attempts = handler_attempts
        self.max_records = max_records
        self.max_backoff_s = max_backoff_s
        self.on_tombstone = on_tombstone
        self.grouped = grouped
        self.start = start
        self.handled = 0
        self.dead_lettered = 0
        self.dead_letters_lost = 0
        self.outage_retries = 0
        self.tombstones = 0
        self._stopping = asyncio.Event()
        self._prefix = self.settings.kafka.topic_prefix
        self._consumer = self._new_consumer()

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *(topic_name(self.settings, t) for t in self.topics),
            **client_options(self.settings),
            group_id=self.group_id if self.grouped else None,
            client_id=f"{self.settings.kafka.client_id}-{self.group_id}",
            enable_auto_commit=False,
            auto_offset_reset=self.start,
        )

    def stop(self) -> None:
        """Asks the loop to finish the batch in hand, commit and return."""
        self._stopping.set()

    async def run(self) -> None:
        """Consumes until :meth:`stop`; may be called again after it raised (a supervisor's
        restart), with a fresh Kafka consumer that resumes from the group's commits."""
        if self._stopping.is_set():
            return
        self._consumer = self._new_consumer()
        await self._consumer.start()
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=500, max_records=self.max_records)
                for partition, records in batches.items():
                    done: int | None = None
                    for record in records:
                        if not await self._handle(record):
                            break  # stopped during an outage: that record stays uncommitted
                        done = record.offset + 1
                    if done is not None:
                        await self._commit(partition, done)
                    if self._stopping.is_set():
                        break
        finally:
            await self._consumer.stop()

    async def _commit(self, partition: TopicPartition, offset: int) -> None:
        if not self.grouped:
            return  # no group to commit to: each run starts at ``start`` again
        # A rebalance may have moved the partition while its batch was handled: the new owner
        # re-reads the uncommitted tail (at-least-once; handlers are idempotent).
        if partition not in self._consumer.assignment():
            log.info("partition moved before commit", partition=str(partition))
            return
        try:
            await self._consumer.commit({partition: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning(
                "commit refused after a rebalance", partition=str(partition), error=str(exc)
            )

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """Handles or dead-letters ``record``; False only if asked to stop during an outage."""
        logical = record.topic.removeprefix(self._prefix)
        if record.value is None and TOPICS[logical].compacted:
            # A tombstone: a key erased from a compacted topic (a user's right to erasure). Not
            # a bad record; a consumer replaying the topic must forget what it read for the key.
            self.tombstones += 1
            if self.on_tombstone is not None and record.key is not None:
                await self.on_tombstone(logical, record.key)
            return True
        try:
            event = decode(logical, record.value, record.headers)
        except DecodeError as exc:
            await self._dead_letter(record, exc)
            return True
        failures = 0
        backoff = 0.2
        while True:
            try:
                await self.handler(event, record)
                self.handled += 1
                return True
            except Exception as exc:
                if is_transient(exc):
                    self.outage_retries += 1
                    log.warning(
                        "infrastructure unavailable, record kept for a retry",
                        topic=logical,
                        offset=record.offset,
                        retry_in_s=backoff,
                        error=repr(exc),
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), backoff)
                    if self._stopping.is_set():
                        return False
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                failures += 1
                log.warning(
                    "handler failed",
                    topic=logical,
                    offset=record.offset,
                    attempt=failures,
                    error=repr(exc),
                )
                if failures >= self.handler_attempts:
                    await self._dead_letter(record, exc)
                    return True
                await asyncio.sleep(0.2 * failures)

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        letter = dead_letter_for(
            topic=record.topic.removeprefix(self._prefix),
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=record.headers,
            error=error,
            consumer_group=self.group_id,
        )
        try:
            await self.producer.publish(letter)
        except Exception as exc:
            # Raising would stop the loop on this record for ever; losing one letter is less bad.
            self.dead_letters_lost += 1
            log.error(
                "dead letter could not be written, record skipped",
                topic=letter.source_topic,
                offset=record.offset,
                reason=letter.error_reason,
                error=repr(exc),
            )
            return
        self.dead_lettered += 1
        log.warning(
            "dead-lettered",
            topic=letter.source_topic,
            offset=record.offset,
            reason=letter.error_reason,
        )
