"""Audit finding 20, on the real stack (FerretDB): activations racing on several instances
leave exactly one active version, and a gateway does not serve a version the canary refused
because the database says it is active."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from auth_gateway.analysis import Analyser
from auth_gateway.bootstrap import bootstrap
from auth_gateway.gateway import Gateway
from core import docstore
from core.biometrics.golden import golden_faces
from core.bus import EventProducer, ensure_topics
from core.objectstore import ObjectStore
from core.registry import ModelRegistry, ModelStatus, seed_golden
from core.settings import ModelsSection, Settings
from schemas import ActivationStatus, ModelActivation, decode
from schemas.model_catalog import BASE_VERSION
from tests.integration.kafka_reader import read_topic
from tests.registry_kit import collapsing, good, keys, manifest_for
from tests.stack_kit import DOOR_OPEN, namespaced, with_gateway_keys

MODEL = "face-embedder"
SIGNER, _, PUBLIC = keys()
RACERS = 6


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return with_gateway_keys(namespaced(base_settings, "ri"), "ri-admin-key", **DOOR_OPEN)


async def test_racing_activations_leave_exactly_one_active_version(
    settings: Settings, store: ObjectStore
) -> None:
    await ensure_topics(settings)
    objects = ObjectStore(settings)
    await objects.ensure_buckets()
    # One client per instance, connected beforehand: the activations reach the server together.
    clients = [docstore.client(settings) for _ in range(RACERS)]
    dbs = [c[settings.mongo.database] for c in clients]
    registries = [ModelRegistry(db, objects) for db in dbs]
    try:
        await docstore.ensure_indexes(dbs[0])
        async with EventProducer(settings, producer_name="tests") as producer:
            versions = [f"1.{i + 1}.0" for i in range(RACERS)]
            for i, version in enumerate(versions):
                data = good(128, i + 1)
                await registries[0].publish(
                    data, manifest_for(data, MODEL, version), SIGNER, producer, by="tests"
                )
        for _ in range(3):  # rounds: each starts from the previous round's winner
            await asyncio.gather(*(db.command("ping") for db in dbs))
            await asyncio.gather(
                *(
                    r.activate(MODEL, v, by=f"gw-{v}")
                    for r, v in zip(registries, versions, strict=True)
                )
            )
            active = await registries[0].active_versions()
            marked = [
                r.version
                for r in await registries[0].versions(MODEL)
                if r.status is ModelStatus.ACTIVE
            ]
            assert len(marked) == 1, marked
            assert active == {MODEL: marked[0]}
    finally:
        await clients[0].drop_database(settings.mongo.database)
        await asyncio.gather(*(c.close() for c in clients))


@pytest.fixture
async def gateway(settings: Settings, analyser: Analyser, data_dir: Path) -> AsyncIterator[Gateway]:
    await ensure_topics(settings)
    models = ModelsSection.model_validate(
        {"trust": {"public_keys": PUBLIC}, "instance_id": "gw-ri"}
    )
    instance = settings.model_copy(update={"models": models})
    objects = ObjectStore(instance)
    await objects.ensure_buckets()
    engine = analyser.face_engine
    await seed_golden(
        objects,
        MODEL,
        golden_faces(data_dir),
        lambda b: engine.analyse(b).base_embedding,
        base_version=BASE_VERSION,
        signer=SIGNER,
    )
    async with EventProducer(instance, producer_name="gw-ri") as producer:
        gw = bootstrap(instance, analyser=analyser, producer=producer)
        await gw.prepare()
        try:
            yield gw
        finally:
            await gw.client.drop_database(instance.mongo.database)
            await gw.close()


async def test_a_version_the_canary_refused_is_not_served_when_the_database_says_active(
    gateway: Gateway, settings: Settings
) -> None:
    registry = gateway.swapper.registry
    data = collapsing(128)
    event = await registry.publish(
        data, manifest_for(data, MODEL, "1.9.0"), SIGNER, gateway.producer, by="tests"
    )
    await gateway.swapper.handle_published(event)
    refused = await registry.get(MODEL, "1.9.0")
    assert refused is not None and refused.status is ModelStatus.REJECTED

    # Someone with write access to the database turns the refusal back into a candidate, and
    # an instance (or the command line) activates it.
    await gateway.db["models"].update_one(
        {"name": MODEL, "version": "1.9.0"}, {"$set": {"status": "candidate", "reason": None}}
    )
    assert await registry.activate(MODEL, "1.9.0", by="someone")

    await gateway.swapper.converge(MODEL)
    assert gateway.swapper.current().versions()[MODEL] == BASE_VERSION
    records = await read_topic(settings, "models.activations", at_least=2, timeout_s=5)
    said = [decode("models.activations", r.value, r.headers) for r in records]
    assert [
        (e.status, e.reason)
        for e in said
        if isinstance(e, ModelActivation) and e.model_version == "1.9.0"
    ] == [(ActivationStatus.REJECTED, "canary_regression")] * 2
