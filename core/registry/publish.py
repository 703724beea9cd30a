"""The one way a model version is published, and the waiting room of imported models.

:func:`publish` is what ``kibalock models publish``, ``kibalock models sign`` and the trainer
call: it checks the model the way every gateway will (it loads, fits its catalog entry, carries
an operating point fitted for this very version), then signs, uploads, registers and announces
it. It needs the publisher's signing key, which only publishers hold.

A gateway never signs: ``/api/import_model`` only stores the uploaded file as an *unsigned
candidate* (:func:`store_candidate`), outside the layout gateways load from; an operator then
runs ``kibalock models sign`` where the key lives (:func:`sign_candidate`).
"""

from __future__ import annotations

import asyncio

from core import docstore
from core.bus import EventProducer, ensure_topics
from core.objectstore import ObjectMissing, ObjectStore
from core.registry.errors import ModelRejected
from core.registry.onnx_model import SLOTS, check_detector, describe, load_adapter
from core.registry.store import ONNX_CONTENT_TYPE, ModelRegistry, VersionExists
from core.settings import Settings
from schemas import MediaRef, ModelPublished
from schemas.keys import artifact_key, candidate_key
from schemas.manifest import Manifest, OperatingPoint, SignerLike
from schemas.model_catalog import MODEL_CATALOG, ModelKind


def check_publishable(data: bytes, manifest: Manifest) -> None:
    """Raises :class:`ModelRejected` for a model its users would refuse.

    An embedder adapter is checked the way every gateway loads it (operating point included);
    a detector (not scored, so no operating point) must load and match its manifest's I/O.
    Gateways hot-swap only the adapters: a published detector is for LifeModo's exports and
    for an operator to plug in (``FaceEngine(detector=...)``).
    """
    spec = MODEL_CATALOG.get(manifest.name)
    if manifest.name in SLOTS:
        load_adapter(data, manifest)
    elif spec is not None and spec.kind is ModelKind.DETECTOR:
        check_detector(data, manifest)
    else:
        raise ModelRejected("unknown_model", f"{manifest.name} is not a publishable model")


async def publish(
    settings: Settings,
    data: bytes,
    manifest: Manifest,
    signer: SignerLike,
    *,
    by: str,
    producer: EventProducer | None = None,
) -> ModelPublished:
    """Checks, signs, uploads, registers and announces one version; returns the event sent.

    Raises :class:`ModelRejected` (the gateways would refuse it) or :class:`VersionExists`.
    Topics, buckets and indexes are ensured first, so a fresh deployment can publish.
    """
    await asyncio.to_thread(check_publishable, data, manifest)
    await ensure_topics(settings)
    objects = ObjectStore(settings)
    await objects.ensure_buckets()
    client = docstore.client(settings)
    try:
        db = client[settings.mongo.database]
        await docstore.ensure_indexes(db)
        registry = ModelRegistry(db, objects)
        if producer is not None:
            return await registry.publish(data, manifest, signer, producer, by=by)
        async with EventProducer(settings, producer_name=by) as own:
            return await registry.publish(data, manifest, signer, own, by=by)
    finally:
        await client.close()


async def store_candidate(objects: ObjectStore, name: str, version: str, data: bytes) -> MediaRef:
    """Keeps an imported ONNX file, unsigned, until a publisher signs it.

    Raises :class:`ModelRejected` for bytes onnxruntime cannot load or a model outside the
    catalog, :class:`VersionExists` if that version is published or waiting already.
    """
    if name not in SLOTS:
        raise ModelRejected("unknown_model", f"{name} is not a swappable model")
    bucket = objects.bucket("models")
    for key in (artifact_key(name, version), candidate_key(name, version)):
        if await objects.exists(bucket, key):
            raise VersionExists(f"{name} {version} already exists")
    # Loaded the way a gateway will load it, off the event loop: bytes it cannot run wait for
    # nobody.
    await asyncio.to_thread(describe, data, name, version)
    return await objects.put_bytes(bucket, candidate_key(name, version), data, ONNX_CONTENT_TYPE)


async def sign_candidate(
    settings: Settings,
    name: str,
    version: str,
    operating_point: OperatingPoint,
    signer: SignerLike,
    *,
    by: str,
    validation_metrics: dict[str, float] | None = None,
    parent_version: str | None = None,
) -> ModelPublished:
    """Publishes an imported candidate with its operating point, then clears the waiting room."""
    objects = ObjectStore(settings)
    bucket = objects.bucket("models")
    key = candidate_key(name, version)
    try:
        data = await objects.get_bytes(f"s3://{bucket}/{key}")
    except ObjectMissing as exc:
        raise ModelRejected("candidate_missing", f"no imported {name} {version} waits") from exc
    manifest = await asyncio.to_thread(
        describe,
        data,
        name,
        version,
        operating_point=operating_point,
        validation_metrics=validation_metrics,
        parent_version=parent_version,
    )
    event = await publish(settings, data, manifest, signer, by=by)
    await objects.delete(bucket, key)
    return event
