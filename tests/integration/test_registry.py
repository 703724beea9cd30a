"""The registry on the real stack: publish, verify, every tampering refused, lifecycle, canary."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from core import docstore
from core.bus import EventProducer
from core.objectstore import ObjectStore
from core.registry import (
    ModelRegistry,
    ModelRejected,
    ModelStatus,
    NothingToRollBack,
    VersionExists,
    fetch_verified,
    load_adapter,
    load_canary,
    offline_default,
    seed_canary,
)
from core.settings import Settings
from schemas import ModelPublished, decode
from tests.integration.kafka_reader import read_topic
from tests.registry_kit import good, keys, manifest_for

MODEL = "face-embedder"


@pytest.fixture
async def registry(ns_settings: Settings, store: ObjectStore) -> AsyncIterator[ModelRegistry]:
    client = docstore.client(ns_settings)
    db = client[ns_settings.mongo.database]
    await docstore.ensure_indexes(db)
    yield ModelRegistry(db, store)
    await client.drop_database(ns_settings.mongo.database)
    await client.close()


async def test_publish_registers_uploads_signs_and_announces(
    registry: ModelRegistry, store: ObjectStore, producer: EventProducer, topics: Settings
) -> None:
    signer, trust, _ = keys()
    data = good(128)
    event = await registry.publish(
        data,
        manifest_for(data, MODEL, "1.1.0", parent_version="1.0.0", training_job_id="job-1"),
        signer,
        producer,
        by="tests",
    )
    assert event.artifact.key == f"{MODEL}/1.1.0/model.onnx"
    assert event.manifest.key == f"{MODEL}/1.1.0/manifest.json"
    record = await registry.get(MODEL, "1.1.0")
    assert record is not None and record.status is ModelStatus.CANDIDATE
    assert record.manifest.training_job_id == "job-1" and record.manifest.parent_version == "1.0.0"

    verified = await fetch_verified(store, event, trust)
    assert verified.data == data and verified.manifest.signed_by == signer.key_id
    load_adapter(verified.data, verified.manifest)

    (published,) = await read_topic(topics, "models.published", at_least=1)
    assert decode("models.published", published.value, published.headers) == event
    with pytest.raises(VersionExists):
        await registry.publish(data, manifest_for(data, MODEL, "1.1.0"), signer, producer, by="t")


async def test_tampering_is_refused_with_its_reason(
    registry: ModelRegistry, store: ObjectStore, producer: EventProducer
) -> None:
    signer, trust, _ = keys()
    other_signer, _, _ = keys()
    data = good(128)
    event = await registry.publish(
        data, manifest_for(data, MODEL, "1.2.0"), signer, producer, by="tests"
    )

    async def reason(ev: ModelPublished, *, trusted: object = trust) -> str:
        with pytest.raises(ModelRejected) as exc:
            await fetch_verified(store, ev, trusted)  # type: ignore[arg-type]
        return exc.value.reason

    # A signature nobody trusts, and an event whose sha256 is not the signed one.
    assert await reason(event, trusted=keys()[1]) == "signature_untrusted"
    wrong_sha = event.model_copy(
        update={
            "sha256": "f" * 64,
            "artifact": event.artifact.model_copy(update={"sha256": "f" * 64}),
        }
    )
    assert await reason(wrong_sha) == "sha256_mismatch"

    # The manifest rewritten (new I/O spec) without the key: its signature no longer holds.
    record = await registry.get(MODEL, "1.2.0")
    assert record is not None
    forged = record.manifest.model_copy(update={"preprocessing": "other"})
    await store.put_bytes(registry.bucket, event.manifest.key, forged.to_bytes())
    assert await reason(event) == "signature_invalid"
    unsigned = record.manifest.model_copy(update={"signature": None, "signed_by": ""})
    await store.put_bytes(registry.bucket, event.manifest.key, unsigned.to_bytes())
    assert await reason(event) == "signature_missing"
    resigned = record.manifest.signed(other_signer)
    await store.put_bytes(registry.bucket, event.manifest.key, resigned.to_bytes())
    assert await reason(event) == "signature_untrusted"

    # The manifest restored, the artifact's bytes corrupted in the bucket.
    await store.put_bytes(registry.bucket, event.manifest.key, record.manifest.to_bytes())
    corrupted = bytearray(data)
    corrupted[len(corrupted) // 2] ^= 0xFF
    await store.put_bytes(registry.bucket, event.artifact.key, bytes(corrupted))
    assert await reason(event) == "checksum_mismatch"
    await store.delete(registry.bucket, event.artifact.key)
    assert await reason(event) == "artifact_missing"


async def test_lifecycle_activate_retire_reject_and_rollback(
    registry: ModelRegistry, producer: EventProducer
) -> None:
    signer, _, _ = keys()
    for version, seed in (("1.1.0", 1), ("1.2.0", 2), ("1.3.0", 3)):
        data = good(128, seed)
        await registry.publish(data, manifest_for(data, MODEL, version), signer, producer, by="t")
    with pytest.raises(NothingToRollBack):
        await registry.rollback(MODEL, "manual", by="tests")

    assert await registry.activate(MODEL, "1.1.0", by="gw-a")
    assert await registry.activate(MODEL, "1.1.0", by="gw-b")  # a second instance: idempotent
    assert await registry.activate(MODEL, "1.2.0", by="gw-a")
    assert await registry.active_versions() == {MODEL: "1.2.0"}
    older = await registry.get(MODEL, "1.1.0")
    assert older is not None and older.status is ModelStatus.RETIRED
    newer = await registry.get(MODEL, "1.2.0")
    assert newer is not None and newer.previous_version == "1.1.0"

    # A check failing on one instance never overturns an active version.
    assert not await registry.reject(MODEL, "1.2.0", "canary_regression", "x", by="gw-b")
    assert await registry.reject(MODEL, "1.3.0", "canary_regression", "EER 0.4", by="gw-a")
    assert not await registry.activate(MODEL, "1.3.0", by="gw-a")

    assert await registry.rollback(MODEL, "score_drift", by="gw-a") == ("1.2.0", "1.1.0")
    assert await registry.active_versions() == {MODEL: "1.1.0"}
    rolled = await registry.get(MODEL, "1.2.0")
    assert rolled is not None and rolled.status is ModelStatus.REJECTED
    assert rolled.reason == "score_drift"
    assert [c.status for c in rolled.history] == ["candidate", "active", "rejected"]
    # The first registry version rolls back to the offline default.
    assert await registry.rollback(MODEL, "manual", by="cli") == ("1.1.0", None)
    assert await registry.active_versions() == {}
    assert [r.version for r in await registry.versions(MODEL)] == ["1.1.0", "1.2.0", "1.3.0"]


async def test_canary_set_is_seeded_signed_and_verified(store: ObjectStore) -> None:
    signer, trust, _ = keys()
    rng = np.random.default_rng(0)
    base = rng.standard_normal((8, 128)).astype(np.float32)
    samples = [(f"id{i // 2}", f"photo {i}".encode(), "image/jpeg") for i in range(8)]
    await seed_canary(store, MODEL, base_version="1.0.0", samples=samples, base=base, signer=signer)

    canary = await load_canary(store, MODEL, trust, base_version="1.0.0")
    assert canary.labels == [label for label, _, _ in samples]
    assert np.array_equal(canary.base, base)
    assert canary.run(offline_default(MODEL, None)).genuine_pairs == 4

    with pytest.raises(ModelRejected) as exc:
        await load_canary(store, MODEL, keys()[1], base_version="1.0.0")
    assert exc.value.reason == "canary_invalid"
    with pytest.raises(ModelRejected) as exc:
        await load_canary(store, "voice-embedder", trust, base_version="1.0.0")
    assert exc.value.reason == "canary_missing"
