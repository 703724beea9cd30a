"""Audit finding 13, on the real stack: erasure reaches the compacted lockouts topic and the
trainer's lineage (curated and imported media, dataset snapshots)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.handlers import consumer_of, tombstones_of
from core.bus import ConsumerLoop
from core.settings import Settings
from schemas import AuthAttempt, LockoutEvent
from schemas.enums import LockAction, SampleOrigin
from schemas.keys import attempt_media_key, imported_media_key, user_prefix
from schemas.model_catalog import VOICE_EMBEDDER
from tests.integration.gateway_kit import running_gateway
from tests.integration.kafka_reader import read_topic
from tests.stack_kit import namespaced, with_gateway_keys
from trainer import dataset


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Settings:
    return with_gateway_keys(namespaced(base_settings, "pv"), "pv-admin-key")


@pytest.fixture(scope="module")
async def gateway(settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    async with running_gateway(settings, analyser) as gw:
        yield gw


async def test_erasure_leaves_a_tombstone_that_consumers_skip(
    gateway: Gateway, settings: Settings
) -> None:
    user = f"erased-{uuid.uuid4().hex[:6]}"
    lock = LockoutEvent(
        producer="stream-processors",
        user_id=user,
        action=LockAction.LOCK,
        reason="consecutive_failures",
        until=datetime.now(UTC) + timedelta(minutes=5),
        requested_by="stream-processors",
    )
    await gateway.producer.publish(lock)
    await gateway.erase_user(user)

    records = await read_topic(settings, "security.lockouts", at_least=2)
    mine = [r for r in records if r.key == user.encode()]
    assert mine[-1].value is None, "the user's last lockouts record is a tombstone"

    # A gateway replaying the topic reads the tombstone as "forget that user", not as a bad
    # record: the lock it read first does not come back.
    loop = ConsumerLoop(
        ["security.lockouts"],
        f"pv-{uuid.uuid4().hex[:6]}",
        consumer_of(gateway),
        gateway.producer,
        settings=settings,
        on_tombstone=tombstones_of(gateway),
    )
    task = asyncio.create_task(loop.run())
    for _ in range(120):
        await asyncio.sleep(0.25)
        if loop.handled + loop.tombstones >= 2:
            break
    loop.stop()
    await task
    assert (loop.tombstones, loop.dead_lettered) == (1, 0)
    assert await gateway.lockouts.locked_until(user) is None


async def _captured(gw: Gateway, user: str) -> None:
    """A curated voice sample of ``user`` (``training`` bucket), as the gateway captures one."""
    attempt_id = uuid.uuid4().hex
    clip = f"clip of {user}".encode()
    ref = await gw.objects.put_bytes(
        gw.objects.bucket("samples"),
        attempt_media_key(user, attempt_id, "voice"),
        clip,
        "audio/wav",
    )
    upload = AuthAttempt(
        producer="tests", attempt_id=attempt_id, terminal_id="term-pv", user_id=user, voice=ref
    )
    quality = {"voice": 0.99}
    assert await gw.capture.capture(upload, {"voice": clip}, quality, SampleOrigin.ACCEPTED)


async def _imported(gw: Gateway, user: str) -> None:
    """A clip ``kibalock trainer import`` stored for ``user``, with its provenance record."""
    key = imported_media_key(user, f"imp-{user}", 0, "wav")
    ref = await gw.objects.put_bytes(gw.objects.bucket("training"), key, b"imported", "audio/wav")
    await gw.db["training_imports"].insert_one(
        {
            "import_id": f"imp-{user}",
            "user_id": user,
            "files": [{"kind": "audio", "media": ref.model_dump(mode="json")}],
            "finished_at": datetime.now(UTC),
        }
    )


async def test_erasure_reaches_training_media_and_scrubs_snapshots(gateway: Gateway) -> None:
    erased, kept = f"gone-{uuid.uuid4().hex[:6]}", f"kept-{uuid.uuid4().hex[:6]}"
    for user in (erased, kept):
        await _captured(gateway, user)
        await _imported(gateway, user)
    snapshot = await dataset.take_snapshot(
        gateway.db, VOICE_EMBEDDER, max_per_user=200, source="all"
    )
    assert {erased, kept} <= set(snapshot.users)
    await dataset.save(gateway.db, snapshot, job_id="job-lineage")
    counts = {"snapshot_items": len(snapshot.items), "samples_used": len(snapshot.items)}
    await dataset.record_derived(gateway.db, snapshot.digest, job_id="job-lineage", counts=counts)
    mine = [i for i in snapshot.items if i.user_id == erased]
    assert len(mine) == 2  # the curated sample and the import

    removed = await gateway.erase_user(erased)

    training = gateway.objects.bucket("training")
    assert removed["training_bucket"] == 2
    assert await gateway.objects.list_keys(training, user_prefix(erased)) == []
    assert len(await gateway.objects.list_keys(training, user_prefix(kept))) == 2
    # The lineage survives without the person: same digest, same derived counts, same job.
    doc = await gateway.db[dataset.SNAPSHOTS].find_one({"_id": snapshot.digest})
    assert doc is not None and removed["training_snapshots"] == 1
    assert erased not in json.dumps(doc, default=str)
    assert (doc["erased_users"], doc["erased_items"]) == (1, 2)
    assert doc["jobs"] == ["job-lineage"] and doc["derived"][0]["counts"] == counts
    assert kept in doc["users"]
    stored = await dataset.load(gateway.db, snapshot.digest)
    assert stored is not None
    assert set(stored.items) == set(snapshot.items) - set(mine)
