"""Publication of a per-user model: signed manifest and ONNX graph in the ``models`` bucket,
then the user's record in ``personal_models`` (what gateways look up at verify time).

The record is written last, so a gateway never finds a record whose objects are missing; it is
one document per user and model, written only by the job that holds that user's open-job key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.docstore import Database
from core.objectstore import ObjectStore, sha256_hex
from schemas.manifest import SignerLike
from schemas.personal import PersonalManifest, personal_key, personal_record_id
from trainer.jobs import Job
from trainer.pipeline import JobContext, Outcome

PERSONAL_MODELS = "personal_models"


async def current_personal_version(db: Database, model: str, user_id: str) -> str | None:
    doc = await db[PERSONAL_MODELS].find_one({"_id": personal_record_id(model, user_id)})
    return None if doc is None else str(doc["version"])


async def personal_users_outside(db: Database, model: str, version: str) -> list[str]:
    """The users whose personal model of ``model`` was fitted in another version than
    ``version``."""
    cursor = db[PERSONAL_MODELS].find(
        {"model": model, "for_version": {"$ne": version}}, {"user_id": 1}
    )
    return sorted([str(doc["user_id"]) async for doc in cursor])


async def publish_personal(
    db: Database,
    objects: ObjectStore,
    job: Job,
    context: JobContext,
    outcome: Outcome,
    signer: SignerLike,
) -> PersonalManifest:
    """Signs, uploads and records the personal model a job trained for ``job``'s user."""
    model, user_id = job.request.model, job.request.user_id
    if user_id is None or outcome.parity is None:
        raise ValueError("a personal model names its user and carries its parity check")
    manifest = PersonalManifest(
        model=model,
        user_id=user_id,
        version=context.version,
        for_version=context.champion_version,
        sha256=sha256_hex(outcome.onnx),
        size_bytes=len(outcome.onnx),
        conditions=list(outcome.conditions),
        parity=outcome.parity,
        validation_metrics=dict(outcome.metrics),
        training_job_id=job.job_id,
        data_snapshot_id=outcome.snapshot_digest,
    ).signed(signer)
    bucket = objects.bucket("models")
    artifact = await objects.put_bytes(
        bucket, personal_key(user_id, model, context.version, "model.onnx"), outcome.onnx
    )
    described = await objects.put_bytes(
        bucket,
        personal_key(user_id, model, context.version, "manifest.json"),
        manifest.model_dump_json(indent=2).encode(),
        "application/json",
    )
    await db[PERSONAL_MODELS].replace_one(
        {"_id": personal_record_id(model, user_id)},
        {
            "model": model,
            "user_id": user_id,
            "version": context.version,
            "for_version": context.champion_version,
            "artifact": artifact.model_dump(mode="json"),
            "manifest": described.model_dump(mode="json"),
            "job_id": job.job_id,
            "published_at": datetime.now(UTC),
        },
        upsert=True,
    )
    return manifest
