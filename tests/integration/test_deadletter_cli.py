"""``kibalock deadletter list | show | redrive`` against the real stack: dead letters made by a
real consumer loop, read back, and one sent back to its topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import ConsumerRecord
from typer.testing import CliRunner

from core.bus import ConsumerLoop, EventProducer, ensure_topics
from core.settings import Settings, get_settings
from kibalock_cli.deadletter import deadletter_app
from kibalock_cli.redrive import REDRIVEN_HEADER
from schemas import AuthFeedback, Event, decode
from schemas.enums import FeedbackLabel, FeedbackSource
from tests.integration.kafka_reader import read_topic


@pytest.fixture
def cli_env(ns_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name, value in ns_settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")  # the table is read back, unwrapped
    get_settings.cache_clear()
    yield ns_settings
    get_settings.cache_clear()


async def _dead_letters(settings: Settings) -> AuthFeedback:
    """A record that does not decode and an event its handler failed on, both dead-lettered by
    the consumer loop the services use; returns the event."""
    await ensure_topics(settings)
    feedback = AuthFeedback(
        producer="tests",
        attempt_id=uuid.uuid4().hex,
        user_id="dl-user",
        terminal_id="term-dl",
        label=FeedbackLabel.GENUINE,
        source=FeedbackSource.ADMIN,
    )

    async def store_down(_event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        raise ValueError("the fix is not deployed yet")

    async with EventProducer(settings, producer_name="tests") as producer:
        await producer.publish_raw("auth.feedback", b"[" * 50, key=b"k")
        await producer.publish(feedback)
        loop = ConsumerLoop(
            ["auth.feedback"],
            f"dl-{uuid.uuid4().hex[:6]}",
            store_down,
            producer,
            settings=settings,
            handler_attempts=1,
        )
        task = asyncio.create_task(loop.run())
        for _ in range(200):
            if loop.dead_lettered >= 2:
                break
            await asyncio.sleep(0.1)
        loop.stop()
        await task
    assert loop.dead_lettered == 2
    return feedback


def test_dead_letters_are_listed_shown_and_redriven(cli_env: Settings) -> None:
    feedback = asyncio.run(_dead_letters(cli_env))
    runner = CliRunner()

    listed = runner.invoke(deadletter_app, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["reason"]: row for row in json.loads(listed.output)}
    assert set(rows) == {"malformed", "processing_failed"}
    assert rows["processing_failed"]["source"].startswith("auth.feedback ")
    assert "the fix is not deployed yet" in rows["processing_failed"]["message"]
    only = json.loads(
        runner.invoke(deadletter_app, ["list", "--json", "--reason", "malformed"]).output
    )
    assert [row["reason"] for row in only] == ["malformed"]
    table = runner.invoke(deadletter_app, ["list"]).output
    assert rows["malformed"]["ref"] in table and "2 dead letter(s)" in table

    failed, malformed = rows["processing_failed"]["ref"], rows["malformed"]["ref"]
    shown = json.loads(runner.invoke(deadletter_app, ["show", failed]).output)
    assert shown["redrive"].startswith("possible") and str(feedback.event_id) in shown["redrive"]
    assert json.loads(shown["value"])["attempt_id"] == feedback.attempt_id

    # Still malformed: sending it back would only dead-letter it again.
    refused = runner.invoke(deadletter_app, ["redrive", malformed, "--yes"])
    assert refused.exit_code == 1 and "still does not decode" in refused.output
    # Asked, and told no: nothing is sent.
    declined = runner.invoke(deadletter_app, ["redrive", failed], input="n\n")
    assert declined.exit_code == 0 and "re-published" not in declined.output
    sent = runner.invoke(deadletter_app, ["redrive", failed, "--yes"])
    assert sent.exit_code == 0 and "re-published to auth.feedback" in sent.output, sent.output

    records = asyncio.run(read_topic(cli_env, "auth.feedback", at_least=3))
    assert len(records) == 3
    (again,) = [r for r in records if REDRIVEN_HEADER in dict(r.headers)]
    assert dict(again.headers)[REDRIVEN_HEADER] == f"deadletter:{failed}".encode()
    assert decode("auth.feedback", again.value, again.headers) == feedback
