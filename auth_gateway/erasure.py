"""The right to erasure: a user's templates, samples, sessions and records, everywhere.

Media are deleted by the user's own prefixes in the samples and training buckets (media
imported for the user by ``kibalock trainer import`` included), and their personal models by
theirs in the models bucket, and nowhere else: an attempt may
only name objects under its own prefix (the verifier refuses any other), so following an
attempt's references could only ever reach someone else's objects. The audit trail keeps only a
keyed hash (a pseudonym) of the erased user id.
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
    removed["samples_bucket"] = await objects.delete_prefix(
        objects.bucket("samples"), user_prefix(user_id)
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
    await db["audit"].insert_one(
        {
            "at": datetime.now(UTC),
            "action": "erase_user",
            "user_pseudonym": pseudonym(user_id),
            "removed": removed,
        }
    )
    return removed
