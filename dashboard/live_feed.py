"""The live feed: a Kafka consumer on ``metrics``, ``models.activations`` and ``training.jobs``
that fills a :class:`FeedState`.

The dashboard is a reader of figures others publish, so it commits nothing and dead-letters
nothing: each process has a group of its own (a second dashboard must not take half of the
partitions), starts from the beginning of what the topics keep, and skips what does not decode.
A broker that is away is waited for, with growing delays; the state says so meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import socket

from aiokafka import AIOKafkaConsumer

from core.bus import topic_name
from core.kafka_client import client_options
from core.logging import get_logger
from core.settings import Settings
from dashboard.feed_state import TOPICS, FeedState

log = get_logger(__name__)

MAX_BACKOFF_S = 30.0


def group_id(settings: Settings) -> str:
    return f"{settings.dashboard.consumer_group}-{socket.gethostname()}-{os.getpid()}"


class LiveFeed:
    def __init__(self, settings: Settings, state: FeedState) -> None:
        self.settings = settings
        self.state = state
        self.group_id = group_id(settings)
        self._prefix = settings.kafka.topic_prefix
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consumes until :meth:`stop`, reconnecting whenever the broker goes away."""
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self._consume()
                backoff = 0.5
            except Exception as exc:
                # Whatever the client raises (broker away, authorisation refused), the page
                # stays up and says why; the feed tries again.
                self.state.connection(False, f"{type(exc).__name__}: {exc}")
                log.warning("dashboard feed interrupted", error=repr(exc), retry_in_s=backoff)
                try:
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                except TimeoutError:
                    backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            *(topic_name(self.settings, t) for t in TOPICS),
            **client_options(self.settings),
            group_id=self.group_id,
            client_id=f"{self.settings.kafka.client_id}-dashboard",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Topics created after the dashboard started are found within this.
            metadata_max_age_ms=10_000,
        )
        await consumer.start()
        try:
            self.state.connection(True)
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for records in batches.values():
                    for record in records:
                        self.state.ingest(
                            record.topic.removeprefix(self._prefix),
                            record.key,
                            record.value,
                            record.headers,
                        )
        finally:
            await consumer.stop()
