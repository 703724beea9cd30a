"""Dead letters read back and re-published: what ``kibalock deadletter`` does.

A dead letter (:class:`schemas.DeadLetter`) keeps, byte for byte, a record a consumer could not
decode or process, with the topic, partition and offset it came from. Once the cause is fixed (a
consumer deployed with the fix, a store back up), the record is re-published to its own topic
with its key, value and headers, plus ``kl-redriven-from`` naming the dead letter; consumers
handle it like any other record (an event id they already saw is dropped).

Only what can succeed is sent: a record that still does not decode with this release's schemas
would only be dead-lettered again, and one whose value, key or headers were too big to be
carried whole cannot be rebuilt. The services' principals write dead letters, and the operator's
(the admin's, on a broker with ACLs) re-publishes them: so only to a catalog topic, never back to
``deadletter``, and the command shows the event before it is sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from core.bus import DEADLETTER, EventProducer, topic_name
from core.kafka_client import client_options
from core.settings import Settings
from schemas import DeadLetter, DecodeError, Event, decode
from schemas.catalog import TOPICS

REDRIVEN_HEADER = "kl-redriven-from"
# dead_letter_for's mark of a record it could not carry whole.
_NOT_CARRIED = "[not carried:"


class NotRedrivable(Exception):
    """Why a dead letter's record cannot be re-published."""


@dataclass(frozen=True)
class StoredLetter:
    """A record of the ``deadletter`` topic: the dead letter, or why it is unreadable itself."""

    partition: int
    offset: int
    written_at: datetime
    letter: DeadLetter | None
    unreadable: str | None = None

    @property
    def ref(self) -> str:
        """How the command line names it: ``PARTITION:OFFSET`` on the ``deadletter`` topic."""
        return f"{self.partition}:{self.offset}"


async def read_letters(settings: Settings, *, timeout_s: float = 60.0) -> list[StoredLetter]:
    """Every dead letter still on the topic, oldest first per partition (nothing committed)."""
    topic = topic_name(settings, DEADLETTER)
    # Without a group, the consumer is given every partition of the topic when it starts.
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = sorted(consumer.assignment())
        if not partitions:
            return []
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        stored: list[StoredLetter] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while await _behind(consumer, ends):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{topic} not read to its end within {timeout_s} s")
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    if record.offset < ends[TopicPartition(topic, record.partition)]:
                        stored.append(_stored(record))
        return sorted(stored, key=lambda s: (s.partition, s.offset))
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return True
    return False


def _stored(record: ConsumerRecord[bytes, bytes]) -> StoredLetter:
    at = (record.partition, record.offset, datetime.fromtimestamp(record.timestamp / 1000, UTC))
    try:
        letter = decode(DEADLETTER, record.value, record.headers)
    except DecodeError as exc:
        return StoredLetter(*at, None, f"{exc.reason}: {exc.message}")
    if not isinstance(letter, DeadLetter):
        return StoredLetter(*at, None, f"a {type(letter).__name__}, not a dead letter")
    return StoredLetter(*at, letter)


def find(letters: list[StoredLetter], ref: str) -> StoredLetter:
    """The dead letter ``ref`` names (``PARTITION:OFFSET``, or ``OFFSET`` on partition 0)."""
    partition, _, offset = ref.rpartition(":")
    for stored in letters:
        if stored.ref == f"{partition or 0}:{offset}":
            return stored
    raise KeyError(f"no dead letter {ref}")


def replayable(stored: StoredLetter) -> Event:
    """The event the dead letter's record decodes to now, or :class:`NotRedrivable`."""
    letter = stored.letter
    if letter is None:
        raise NotRedrivable(f"the dead letter itself is unreadable ({stored.unreadable})")
    if letter.source_topic == DEADLETTER or letter.source_topic not in TOPICS:
        raise NotRedrivable(f"{letter.source_topic!r} is not a topic a record may go back to")
    if letter.error_message.startswith(_NOT_CARRIED):
        raise NotRedrivable("the record was not carried whole: " + letter.error_message)
    value = letter.original_value_bytes()
    if value is None:
        raise NotRedrivable("the record has no value to re-publish")
    try:
        return decode(letter.source_topic, value, letter.original_headers())
    except DecodeError as exc:
        raise NotRedrivable(f"it still does not decode: {exc.reason}: {exc.message}") from exc


async def redrive(producer: EventProducer, stored: StoredLetter) -> tuple[int, int]:
    """Re-publishes the record to its own topic; returns its new (partition, offset)."""
    replayable(stored)
    letter = stored.letter
    assert letter is not None  # replayable refuses an unreadable dead letter
    headers = [*letter.original_headers(), (REDRIVEN_HEADER, f"{DEADLETTER}:{stored.ref}".encode())]
    return await producer.publish_raw(
        letter.source_topic,
        letter.original_value_bytes(),
        key=letter.original_key_bytes(),
        headers=headers,
    )
