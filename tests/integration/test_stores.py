"""Document store on FerretDB and object store on versitygw, for real."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from minio import Minio
from pymongo.errors import DuplicateKeyError

from auth_gateway.sessions import SESSION_INDEXES
from core import docstore
from core.objectstore import IntegrityError, ObjectMissing, ObjectStore
from core.settings import Settings


async def test_docstore_crud_and_unique_index(ns_settings: Settings) -> None:
    client = docstore.client(ns_settings)
    db = client[ns_settings.mongo.database]
    try:
        report = await docstore.ensure_indexes(db)
        assert "attempts.attempt_id_1" in report.created
        attempts = db["attempts"]
        await attempts.insert_one({"attempt_id": "a1", "outcome": "accept", "score": 0.91})
        found = await attempts.find_one({"attempt_id": "a1"})
        assert found is not None and found["outcome"] == "accept"
        await attempts.update_one({"attempt_id": "a1"}, {"$set": {"outcome": "reject"}})
        found = await attempts.find_one({"attempt_id": "a1"})
        assert found is not None and found["outcome"] == "reject"
        with pytest.raises(DuplicateKeyError):
            await attempts.insert_one({"attempt_id": "a1", "outcome": "accept"})
        assert await attempts.count_documents({}) == 1
        await attempts.delete_one({"attempt_id": "a1"})
        assert await attempts.count_documents({}) == 0
    finally:
        await client.drop_database(ns_settings.mongo.database)
        await client.close()


async def test_expired_sessions_are_purged_where_ttl_is_emulated(ns_settings: Settings) -> None:
    client = docstore.client(ns_settings)
    db = client[ns_settings.mongo.database]
    try:
        report = await docstore.ensure_indexes(db, SESSION_INDEXES)
        now = datetime.now(UTC)
        await db["sessions"].insert_many(
            [
                {
                    "session_sha256": "old",
                    "attempt_id": "a1",
                    "expires_at": now - timedelta(minutes=1),
                },
                {
                    "session_sha256": "live",
                    "attempt_id": "a2",
                    "expires_at": now + timedelta(hours=1),
                },
            ]
        )
        if report.ttl_emulated:
            assert await docstore.purge_expired(db, now, SESSION_INDEXES) == 1
            left = [d["session_sha256"] async for d in db["sessions"].find({})]
            assert left == ["live"]
        else:
            assert "sessions.expires_at_1" in report.created
    finally:
        await client.drop_database(ns_settings.mongo.database)
        await client.close()


async def test_object_round_trip_and_integrity(store: ObjectStore, ns_settings: Settings) -> None:
    bucket = store.bucket("samples")
    data = b"\xff\xd8 a face, say"
    ref = await store.put_bytes(bucket, "u1/face.jpg", data, "image/jpeg")
    assert ref.uri == f"s3://{bucket}/u1/face.jpg"
    assert await store.get_bytes(ref) == data
    assert await store.get_bytes(ref.uri) == data

    with pytest.raises(IntegrityError):
        await store.get_bytes(ref.uri, expected_sha256="0" * 64)

    # Tamper behind the store's back: same key, other bytes, the old sha256 kept in metadata.
    s3 = ns_settings.s3
    raw = Minio(s3.endpoint, s3.access_key, s3.secret_key.get_secret_value(), secure=False)
    import io

    evil = b"\xff\xd8 another face"
    raw.put_object(
        bucket, "u1/face.jpg", io.BytesIO(evil), len(evil), metadata={"sha256": ref.sha256}
    )
    with pytest.raises(IntegrityError) as caught:
        await store.get_bytes(ref)
    assert caught.value.reason == "checksum_mismatch"
    with pytest.raises(IntegrityError):
        await store.get_bytes(ref.uri)  # the recorded sha256 alone catches it too

    with pytest.raises(ObjectMissing) as missing:
        await store.get_bytes(f"s3://{bucket}/u1/nothing.wav")
    assert missing.value.reason == "missing_object"

    assert await store.delete_prefix(bucket, "u1/") == 1
    assert await store.list_keys(bucket) == []
