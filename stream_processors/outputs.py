"""Everything the stages publish: outputs (acknowledged), observations and dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from core.logging import get_logger
from schemas import Event, dead_letter_for, encode
from stream_processors.observations import Fact, SourceIdle
from stream_processors.telemetry import Telemetry

log = get_logger(__name__)


class Outputs:
    def __init__(
        self,
        topics: dict[str, Any],
        observations: Any,
        *,
        consumer_group: str,
        producer_id: str,
        telemetry: Telemetry,
    ) -> None:
        self.topics = topics  # logical catalog name -> faust topic (raw bytes)
        self.observations = observations
        self.consumer_group = consumer_group
        self.producer_id = producer_id
        self.telemetry = telemetry

    async def publish_acked(self, events: Sequence[Event]) -> None:
        """Publishes and waits until the broker has acknowledged every event.

        Callers write the state that records an output only after this returns: a crash in
        between publishes the output again (same event_id) rather than never.
        """
        pending = []
        for event in events:
            encoded = encode(event)
            # force: send now, not when the current input record is acknowledged (faust's
            # default inside an agent), or waiting for the ack here would wait forever.
            pending.append(
                await self.topics[encoded.topic].send(
                    key=encoded.key, value=encoded.value, headers=encoded.headers, force=True
                )
            )
        await asyncio.gather(*pending)

    async def observe(self, found: Sequence[Fact | SourceIdle]) -> None:
        """Hands observations to the metrics stage (delivered before the input is committed:
        faust flushes the producer before every offset commit)."""
        for obs in found:
            await self.observations.send(value=obs.model_dump_json().encode(), force=True)

    async def dead_letter(self, logical: str, message: Any, error: Exception) -> None:
        letter = dead_letter_for(
            topic=logical,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers=record_headers(message.headers),
            error=error,
            consumer_group=self.consumer_group,
            producer=self.producer_id,
        )
        encoded = encode(letter)
        try:
            await self.topics[encoded.topic].send(
                key=encoded.key, value=encoded.value, headers=encoded.headers, force=True
            )
        except Exception:
            # Raising here would stop the stream on this record; losing one letter is less bad.
            self.telemetry.records.labels(logical, "deadletter_lost").inc()
            log.exception("dead letter could not be written, record skipped", offset=message.offset)
            return
        self.telemetry.records.labels(logical, "deadletter").inc()
        log.warning(
            "dead-lettered", topic=logical, offset=message.offset, reason=letter.error_reason
        )


def record_headers(raw: Any) -> list[tuple[str, bytes]]:
    """A faust message's headers (a list of pairs, or a mapping) as (name, bytes) pairs."""
    if not raw:
        return []
    items = raw.items() if isinstance(raw, dict) else raw
    return [(str(name), bytes(value)) for name, value in items]
