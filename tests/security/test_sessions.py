"""Audit finding 17, on the real stack (FerretDB): one session per accepted attempt, however
many deliveries race to open it, and no usable session id at rest."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from auth_gateway.gateway import GATEWAY_INDEXES
from auth_gateway.sessions import SessionStore, forget_plaintext_sessions
from core import docstore
from core.settings import Settings
from tests.stack_kit import namespaced


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return namespaced(base_settings, "se")


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[docstore.Database]:
    client = docstore.client(settings)
    database = client[settings.mongo.database]
    await docstore.ensure_indexes(database, GATEWAY_INDEXES)
    try:
        yield database
    finally:
        await client.drop_database(settings.mongo.database)
        await client.close()


async def test_concurrent_deliveries_of_one_attempt_open_one_session(
    db: docstore.Database, settings: Settings
) -> None:
    # One client per delivery (as on several gateway instances), connected beforehand, so the
    # opens reach the server together rather than queued on one connection.
    clients = [docstore.client(settings) for _ in range(8)]
    try:
        stores = [SessionStore(c[settings.mongo.database], ttl_s=60) for c in clients]
        await asyncio.gather(*(c[settings.mongo.database].command("ping") for c in clients))
        opened = await asyncio.gather(*(s.open("alice", "attempt-1") for s in stores))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    store = SessionStore(db, ttl_s=60)
    assert await db["sessions"].count_documents({"attempt_id": "attempt-1"}) == 1
    # The id goes to one caller only: the store cannot hand it out again.
    handed_out = [s.session_id for s in opened if s.session_id is not None]
    assert len(handed_out) == 1
    assert await store.valid(handed_out[0]) is not None


async def test_the_store_keeps_no_usable_session_id(db: docstore.Database) -> None:
    store = SessionStore(db, ttl_s=60)
    session = await store.open("bob", "attempt-2")
    assert session.session_id is not None
    doc = await db["sessions"].find_one({"attempt_id": "attempt-2"})
    assert doc is not None
    assert session.session_id not in {str(v) for v in doc.values()}
    digest = hashlib.sha256(session.session_id.encode()).hexdigest()
    assert digest in doc.values()
    # A reader of the database holds the digest, which opens nothing.
    assert await store.valid(digest) is None
    assert await store.valid(session.session_id) is not None


async def test_sessions_stored_with_their_plain_id_are_dropped_at_upgrade(
    settings: Settings,
) -> None:
    client = docstore.client(settings)
    db = client[settings.mongo.database]
    try:
        # A database as the gateway left it before ids were hashed.
        old = db["sessions"]
        await old.create_index("session_id", unique=True)
        soon = datetime.now(UTC) + timedelta(minutes=5)
        await old.insert_many(
            [
                {
                    "session_id": f"plain-{i}",
                    "user_id": "u",
                    "attempt_id": f"a{i}",
                    "expires_at": soon,
                }
                for i in range(2)
            ]
        )
        assert await forget_plaintext_sessions(db) == 2
        await docstore.ensure_indexes(db, GATEWAY_INDEXES)
        store = SessionStore(db, ttl_s=60)
        first, second = await store.open("u", "b1"), await store.open("u", "b2")
        assert first.session_id and second.session_id
        assert await db["sessions"].count_documents({}) == 2
    finally:
        await client.drop_database(settings.mongo.database)
        await client.close()
