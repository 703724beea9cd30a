"""The composition root: reads the settings once and wires the trainer's parts together.

``kibalock trainer run``, ``kibalock train --once`` and the tests all get their trainer from
:func:`bootstrap`; tests pass their own :class:`TrainerRegistry` and owner.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field

from pydantic import SecretStr

from core import docstore
from core.bus import EventProducer, ensure_topics
from core.http.ops import probe_stores
from core.objectstore import ObjectStore
from core.registry import ModelRegistry
from core.settings import Settings
from schemas.catalog import TRAINER
from trainer.job_store import JobStore
from trainer.registry_of_trainers import TrainerDeps, TrainerRegistry
from trainer.service import TrainerService
from trainer.telemetry import Telemetry


@dataclass
class TrainerRuntime:
    """Everything the trainer process holds; :meth:`close` releases it."""

    settings: Settings
    client: docstore.Client
    objects: ObjectStore
    producer: EventProducer
    store: JobStore
    service: TrainerService
    # The deployment's admin API key (the gateway's), for retrain requests; None disables them.
    admin_key: SecretStr | None
    # The long-running parts (``consumer``, ``activations``, ``worker``, ``retention``), set by
    # whoever runs them.
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def probe(self) -> dict[str, str]:
        """Whether the document store and the object store answer: ``ok`` or ``error: …``."""
        return await probe_stores(self.store.ping, self.objects.list_buckets)

    async def close(self) -> None:
        await self.producer.stop()
        await self.client.close()


def instance_owner() -> str:
    """A lease owner unique to this process (host, pid, and a random part for restarts)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


async def bootstrap(
    settings: Settings,
    *,
    trainers: TrainerRegistry | None = None,
    owner: str | None = None,
) -> TrainerRuntime:
    """Topics, buckets and indexes ensured, producer started, the service wired.

    The signing key is read here: a trainer that publishes and has none stops at start
    (:class:`core.settings.SigningKeyMissing`), not after its first hour of training.
    """
    publisher = settings.models.publisher
    signer = publisher.signer() if settings.trainer.auto_publish or publisher.configured else None
    admin_key = settings.gateway.admin_key()
    await ensure_topics(settings)
    objects = ObjectStore(settings)
    await objects.ensure_buckets()
    client = docstore.client(settings)
    db = client[settings.mongo.database]
    await docstore.ensure_indexes(db)
    producer = EventProducer(settings, producer_name=TRAINER)
    await producer.start()
    store = JobStore(db, producer)
    await store.ensure_indexes()
    registry = ModelRegistry(db, objects)
    service = TrainerService(
        settings,
        store,
        registry,
        trainers or TrainerRegistry(),
        TrainerDeps(settings=settings, db=db, objects=objects, registry=registry),
        producer,
        signer,
        owner=owner or instance_owner(),
        telemetry=Telemetry(),
    )
    return TrainerRuntime(
        settings=settings,
        client=client,
        objects=objects,
        producer=producer,
        store=store,
        service=service,
        admin_key=admin_key,
    )
