"""Model hot-swap figures: publish → activate latency and re-embedding throughput.

- ``publish_to_activate_ms``: from ``ModelRegistry.publish`` (sign, upload, register, announce
  on ``models.published``) to this gateway instance's ``activated`` on ``models.activations``:
  Kafka both ways, download, checksum and signature, onnxruntime load, I/O checks, canary and
  the atomic swap — with no enrolled user, so without re-embedding. Median and max over
  ``rounds`` versions.
- ``reembed_templates_per_s``: templates of a new version for ``users`` enrolled users, from
  their stored (encrypted) base features: read and decrypt, adapter, encrypt, bulk insert.

Runs in a namespace of its own (topics, buckets, database), dropped afterwards. No biometric
engine is loaded: the canary set and the users are synthetic base embeddings of the right shape.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import numpy as np
from aiokafka.admin import AIOKafkaAdminClient

from auth_gateway import (
    HotSwapper,
    ReEmbedder,
    TemplateCipher,
    TemplateStore,
    features_version,
    load_policy,
)
from bench.cli import BenchOptions
from bench.support.onnx_build import linear_adapter, rotation, rotation_point
from core import docstore
from core.bus import ConsumerLoop, EventProducer, ensure_topics
from core.kafka_client import client_options
from core.objectstore import ObjectStore
from core.registry import (
    SLOTS,
    ActiveModels,
    ModelRegistry,
    describe,
    load_adapter,
    seed_canary,
)
from core.settings import Settings
from core.signing import Signer, TrustedKeys, generate_keypair, load_private_key
from schemas import ActivationStatus, Event, ModelActivation, ModelPublished
from schemas.model_catalog import BASE_VERSION, FACE_EMBEDDER

MODEL = FACE_EMBEDDER
DIM = SLOTS[MODEL].width


def run(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    rounds, users = (3, 200) if options.quick else (10, 2000)
    return asyncio.run(_bench(settings, rounds=rounds, users=users))


async def _bench(base: Settings, *, rounds: int, users: int) -> dict[str, Any]:
    settings = base.namespaced(f"bm{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings)
    objects = ObjectStore(settings)
    await objects.ensure_buckets()
    client = docstore.client(settings)
    db = client[settings.mongo.database]
    await docstore.ensure_indexes(db)
    producer = EventProducer(settings, producer_name="bench")
    await producer.start()
    try:
        private, public = generate_keypair()
        signer = Signer(load_private_key(private))
        templates = TemplateStore(db, TemplateCipher(os.urandom(32)))
        await _seed_canary(objects, signer)
        swapper = HotSwapper(
            registry=ModelRegistry(db, objects),
            objects=objects,
            producer=producer,
            reembedder=ReEmbedder(db, templates, objects, None, batch=256),
            settings=settings.models,
            trust=TrustedKeys.parse(public),
            instance_id="bench",
            follow_registry=True,
            defaults=ActiveModels.offline(load_policy().base_operating_points),
        )
        latencies = await _publish_to_activate(settings, swapper, signer, producer, rounds)
        reembed = await _reembed(db, templates, swapper, users)
    finally:
        await producer.stop()
        await client.drop_database(settings.mongo.database)
        await client.close()
        await objects.delete_prefix(objects.bucket("models"), "")
        await _drop_topics(settings)
    return {
        "publish_to_activate_ms_median": round(statistics.median(latencies), 1),
        "publish_to_activate_ms_max": round(max(latencies), 1),
        "rounds": rounds,
        **reembed,
    }


async def _seed_canary(objects: ObjectStore, signer: Signer) -> None:
    # Four synthetic identities, three samples each: the canary's shape, not its content.
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, DIM))
    canary = np.concatenate([c + 0.3 * rng.standard_normal((3, DIM)) for c in centres])
    await seed_canary(
        objects,
        MODEL,
        base_version=BASE_VERSION,
        samples=[(f"p{i // 3}", b"synthetic", "application/octet-stream") for i in range(12)],
        base=canary.astype(np.float32),
        signer=signer,
    )


async def _publish_to_activate(
    settings: Settings,
    swapper: HotSwapper,
    signer: Signer,
    producer: EventProducer,
    rounds: int,
) -> list[float]:
    activated: dict[str, float] = {}

    async def handle(event: Event, _record: object) -> None:
        if isinstance(event, ModelPublished):
            await swapper.handle_published(event)
        elif isinstance(event, ModelActivation) and event.status is ActivationStatus.ACTIVATED:
            activated[event.model_version] = time.perf_counter()

    loop = ConsumerLoop(
        ["models.published", "models.activations"],
        "bench-models",
        handle,
        producer,
        settings=settings,
    )
    consuming = asyncio.create_task(loop.run())
    latencies = []
    try:
        for i in range(rounds):
            version = f"1.{i + 1}.0"
            data = linear_adapter(rotation(DIM, i + 1))
            started = time.perf_counter()
            await swapper.registry.publish(
                data,
                describe(data, MODEL, version, operating_point=rotation_point(MODEL, version)),
                signer,
                producer,
                by="bench",
            )
            while version not in activated:
                if consuming.done():
                    consuming.result()  # the consumer died: say why
                await asyncio.sleep(0.002)
            latencies.append((activated[version] - started) * 1000.0)
    finally:
        loop.stop()
        await consuming
    return latencies


async def _reembed(
    db: docstore.Database, templates: TemplateStore, swapper: HotSwapper, users: int
) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    ids = [f"bench-{u}" for u in range(users)]
    await db["users"].insert_many([{"user_id": u, "enrol_samples": []} for u in ids])
    await templates.add_many(
        "face",
        features_version(MODEL),
        ((u, rng.standard_normal((3, DIM)).astype(np.float32)) for u in ids),
    )
    data = linear_adapter(rotation(DIM, 99))
    model = load_adapter(
        data, describe(data, MODEL, "9.0.0", operating_point=rotation_point(MODEL, "9.0.0"))
    )
    report = await swapper.reembedder.run(model)
    return {
        "reembed_templates": report.templates,
        "reembed_seconds": round(report.seconds, 3),
        "reembed_templates_per_s": round(report.templates / report.seconds, 1),
    }


async def _drop_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        prefix = settings.kafka.topic_prefix
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
