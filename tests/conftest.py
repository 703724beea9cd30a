"""Fixtures shared by every test layer.

The stack fixtures start the real local stack (Kafka, FerretDB, versitygw) through the project's
own code (``kibalock stack up``, idempotent) if it is not running, and stop it at the end only if
this session started it. Each test gets its own namespace (topic prefix, bucket prefix,
database) so tests never see each other's data. Unit tests never ask for them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bench.support.namespaces import sweep_namespaces
from core.biometrics.dataset import DEFAULT_DATA_DIR
from core.bus import EventProducer, ensure_topics
from core.objectstore import ObjectStore
from core.settings import Settings
from devstack import stack
from devstack.services import kafka_admin_settings
from tests.stack_kit import SESSION_NAMESPACES, namespaced

if TYPE_CHECKING:
    from auth_gateway.analysis import Analyser


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Real faces and voices: the project's ``tests/data``, or the folder ``KIBALOCK_TEST_DATA``
    names (a larger set with the same layout)."""
    path = Path(os.environ.get("KIBALOCK_TEST_DATA", DEFAULT_DATA_DIR))
    if not (path / "faces").is_dir() or not (path / "voices").is_dir():
        pytest.fail(f"test data not found at {path}: it needs faces/ and voices/")
    return path


@pytest.fixture(scope="session")
def base_settings() -> Iterator[Settings]:
    settings = Settings()
    try:
        report = asyncio.run(stack.up(settings))
    except stack.StackError as exc:
        pytest.fail(f"the local stack could not start: {exc}")
    # On a secure Kafka (stack.secure_kafka) the tests log in as its administrator, so the
    # namespaces they invent need no ACLs of their own; tests/security checks the roles' ACLs.
    admin = kafka_admin_settings(settings)
    yield admin
    if SESSION_NAMESPACES:
        asyncio.run(sweep_namespaces(admin, SESSION_NAMESPACES))
    if report.started:
        stack.down(settings, report.started)


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
