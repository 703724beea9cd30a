"""Integration tests run against the real local stack (Kafka, FerretDB, versitygw).

The stack is started by the project's own code (`kibalock stack up`, idempotent) if it is not
running, and stopped at the end only if this session started it. Each test gets its own
namespace (topic prefix, bucket prefix, database) so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from core.bus import EventProducer, ensure_topics
from core.objectstore import ObjectStore
from core.settings import Settings
from devstack import stack

if TYPE_CHECKING:
    from auth_gateway.analysis import Analyser


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


def namespaced(base: Settings, letter: str) -> Settings:
    """``base`` in a namespace of its own, tagged ``letter`` and a random suffix."""
    return base.namespaced(letter + uuid.uuid4().hex[:10])


# The terminals' master key of every test gateway; a terminal's own key derives from it.
TERMINAL_MASTER = SecretStr("integration-tests-terminal-master-key")


def terminal_headers(terminal_id: str) -> dict[str, str]:
    """What terminal ``terminal_id`` sends to authenticate itself."""
    from auth_gateway.terminal_auth import terminal_key

    return {"X-Terminal-Key": terminal_key(TERMINAL_MASTER, terminal_id)}


def with_gateway_keys(settings: Settings, api_key: str, **options: object) -> Settings:
    """A fresh template key, the given admin key and the terminals' master key (plus other
    gateway options)."""
    update = {
        "template_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
        "api_key": SecretStr(api_key),
        "terminal_master_key": TERMINAL_MASTER,
        **options,
    }
    return settings.model_copy(update={"gateway": settings.gateway.model_copy(update=update)})


@pytest.fixture(scope="session")
def analyser() -> Iterator[Analyser]:
    """The biometric engines, loaded once for every gateway test module."""
    from auth_gateway.analysis import Analyser

    engines = Analyser.load(workers=2, max_in_flight=4)
    yield engines
    engines.close()


@pytest.fixture
def ns_settings(base_settings: Settings) -> Settings:
    return namespaced(base_settings, "t")


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
