"""The right to erasure: a user's templates, samples, sessions and records, everywhere.

Media are deleted by the user's own prefixes in the samples and training buckets (curated
samples and media imported for the user by ``kibalock trainer import`` included), their personal
models by theirs in the models bucket, and nowhere else: an attempt may only name objects under
its own prefix (the verifier refuses any other), so following an attempt's references could
only ever reach someone else's objects. The audit trail keeps only a keyed hash (a pseudonym)
of the erased user id.

The trainer's dataset snapshots (``training_snapshots``) keep their lineage without the person:
the user's items and id are taken out, while the digest (of the data as it was taken), the
counts of what jobs derived and the jobs that used it stay, with ``erased_users`` and
``erased_items`` saying how much was taken out. The user's own training jobs (per-user models)
go entirely, with their claims and triggers. Services never import each other: the trainer's
collections are addressed by name, as their documents are laid out by ``trainer/dataset.py`` and
``trainer/importer.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from auth_gateway.decision_log import DecisionLog
from core.docstore import Database
from core.objectstore import ObjectStore
from schemas.keys import user_prefix
from schemas.personal import personal_prefix


class Erasable(Protocol):
    async def erase_user(self, user_id: str) -> int: ...


async def erase_user(
    user_id: str,
    *,
    db: Database,
    objects: ObjectStore,
    decisions: DecisionLog,
    stores: list[Erasable],
    pseudonym: Callable[[str], str],
) -> dict[str, int]:
    removed: dict[str, int] = {}
    for bucket in ("samples", "training"):
        removed[f"{bucket}_bucket"] = await objects.delete_prefix(
            objects.bucket(bucket), user_prefix(user_id)
        )
    removed["personal_models_bucket"] = await objects.delete_prefix(
        objects.bucket("models"), personal_prefix(user_id)
    )
    for store in stores:
        removed[type(store).__name__] = await store.erase_user(user_id)
    removed["decision_log"] = await decisions.erase_user(user_id)
    # The trainer's provenance of imports for this user (their media went with the prefix).
    imports = await db["training_imports"].delete_many({"user_id": user_id})
    removed["training_imports"] = imports.deleted_count
    removed["training_snapshots"] = await _scrub_snapshots(db, user_id)
    removed["training_jobs"] = await _forget_personal_jobs(db, user_id)
    await db["audit"].insert_one(
        {
            "at": datetime.now(UTC),
            "action": "erase_user",
            "user_pseudonym": pseudonym(user_id),
            "removed": removed,
        }
    )
    return removed


async def _scrub_snapshots(db: Database, user_id: str) -> int:
    """Takes ``user_id``'s items out of every stored snapshot; returns how many snapshots."""
    coll = db["training_snapshots"]
    scrubbed = 0
    async for doc in coll.find({"users": user_id}, {"items": 1, "users": 1}):
        items = [i for i in doc["items"] if i.get("user_id") != user_id]
        await coll.update_one(
            {"_id": doc["_id"]},
            {
                "$set": {
                    "items": items,
                    "users": [u for u in doc["users"] if u != user_id],
                },
                "$inc": {"erased_users": 1, "erased_items": len(doc["items"]) - len(items)},
            },
        )
        scrubbed += 1
    return scrubbed


async def _forget_personal_jobs(db: Database, user_id: str) -> int:
    """Deletes the jobs that trained ``user_id``'s own models, with what keyed them."""
    jobs = [doc async for doc in db["training_jobs"].find({"request.user_id": user_id}, {"key": 1})]
    ids = [doc["_id"] for doc in jobs]
    keys = sorted({str(doc["key"]) for doc in jobs})
    if not ids:
        return 0
    await db["training_job_triggers"].delete_many({"job_id": {"$in": ids}})
    await db["training_job_leases"].delete_many({"_id": {"$in": ids}})
    await db["training_open_jobs"].delete_many({"_id": {"$in": keys}})
    await db["training_versions"].delete_many({"model": {"$in": keys}})
    return (await db["training_jobs"].delete_many({"_id": {"$in": ids}})).deleted_count
