"""Reads back what landed on a topic, independently of the code under test."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from core.bus import topic_name
from core.kafka_client import client_options
from core.settings import Settings


async def read_topic(
    settings: Settings, logical: str, *, at_least: int, timeout_s: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic from the beginning, once ``at_least`` have arrived (or timeout)."""
    consumer = AIOKafkaConsumer(
        topic_name(settings, logical),
        **client_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while len(records) < at_least and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
        # Drain what is still in flight so callers can also assert "no more than".
        for part in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(part)
    finally:
        await consumer.stop()
    return records
