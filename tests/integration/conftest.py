"""Integration tests run against the real local stack (Kafka, FerretDB, versitygw).

The stack is started by the project's own code (`kibalock stack up`, idempotent) if it is not
running, and stopped at the end only if this session started it. Each test gets its own
namespace (topic prefix, bucket prefix, database) so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from core.bus import EventProducer, ensure_topics
from core.objectstore import ObjectStore
from core.settings import Settings
from devstack import stack


@pytest.fixture(scope="session")
def base_settings() -> Iterator[Settings]:
    settings = Settings()
    try:
        report = asyncio.run(stack.up(settings))
    except stack.StackError as exc:
        pytest.fail(f"the local stack could not start: {exc}")
    yield settings
    if report.started:
        stack.down(settings, report.started)


@pytest.fixture
def ns_settings(base_settings: Settings) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return base_settings.model_copy(
        update={
            "kafka": base_settings.kafka.model_copy(update={"topic_prefix": f"t{tag}."}),
            "s3": base_settings.s3.model_copy(update={"bucket_prefix": f"t{tag}-"}),
            "mongo": base_settings.mongo.model_copy(update={"database": f"t_{tag}"}),
        }
    )


@pytest.fixture
async def topics(ns_settings: Settings) -> Settings:
    await ensure_topics(ns_settings)
    return ns_settings


@pytest.fixture
async def producer(topics: Settings) -> AsyncIterator[EventProducer]:
    async with EventProducer(topics, producer_name="tests") as prod:
        yield prod


@pytest.fixture
async def store(ns_settings: Settings) -> ObjectStore:
    objects = ObjectStore(ns_settings)
    await objects.ensure_buckets()
    return objects
