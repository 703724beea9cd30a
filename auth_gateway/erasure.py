"""The right to erasure: a user's templates, samples, sessions and records, everywhere.

Media are found two ways, so nothing escapes a terminal that used an unusual key: everything
under the user's prefix in the samples and training buckets (media imported for the user by
``kibalock trainer import`` included), and every object referenced by one of the user's logged
attempts. The audit trail keeps only a hash of the erased user id.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Protocol

from auth_gateway.decision_log import DecisionLog
from core.docstore import Database
from core.objectstore import ObjectStore
from schemas.keys import user_prefix


class Erasable(Protocol):
    async def erase_user(self, user_id: str) -> int: ...


async def erase_user(
    user_id: str,
    *,
    db: Database,
    objects: ObjectStore,
    decisions: DecisionLog,
    stores: list[Erasable],
) -> dict[str, int]:
    removed: dict[str, int] = {}
    removed["samples_bucket"] = await objects.delete_prefix(
        objects.bucket("samples"), user_prefix(user_id)
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
            "user_sha256": hashlib.sha256(user_id.encode()).hexdigest(),
            "removed": removed,
        }
    )
    return removed
