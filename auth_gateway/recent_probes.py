"""The base embeddings of a user's recent accepted probes, per modality, encrypted like templates.

The echo check (:mod:`core.biometrics.echo`) compares a probe with these and with the user's
enrolment features: a capture replayed from an earlier login is caught whatever its bytes. One
document per user × modality (``_id`` ``{modality}:{user_id}``, so a load is a point lookup)
holds the last ``keep`` embeddings, sealed with the template cipher under their own context
version, so a sealed probe list can never be opened as a template or the other way round.

Only accepted probes are kept: an impostor's failed attempts cannot flush a user's genuine
probes out of the window. Two concurrent accepts of one user may lose one of the two entries
(the list is read, extended and written back); the next login adds it again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from bson import Binary

from auth_gateway.crypto import TemplateCipher
from core.docstore import Database

COLLECTION = "recent_probes"
# The cipher's context version for these lists; model versions never take this form.
SEALED_AS = "recent-probes"


class RecentProbes:
    def __init__(self, db: Database, cipher: TemplateCipher, *, keep: int) -> None:
        self._coll = db[COLLECTION]
        self._cipher = cipher
        self._keep = keep

    async def load(self, user_id: str, modality: str) -> npt.NDArray[np.float32] | None:
        doc = await self._coll.find_one({"_id": _key(user_id, modality)})
        if doc is None:
            return None
        return self._cipher.open(
            bytes(doc["sealed"]), user_id=user_id, modality=modality, version=SEALED_AS
        )

    async def remember(
        self, user_id: str, modality: str, embedding: npt.NDArray[np.floating]
    ) -> None:
        if self._keep == 0:
            return
        row = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        known = await self.load(user_id, modality)
        if known is not None and known.shape[1] == row.shape[1]:
            kept: npt.NDArray[np.float32] = np.concatenate([known, row])[-self._keep :]
        else:
            kept = row
        sealed = self._cipher.seal(kept, user_id=user_id, modality=modality, version=SEALED_AS)
        await self._coll.update_one(
            {"_id": _key(user_id, modality)},
            {
                "$set": {
                    "user_id": user_id,
                    "sealed": Binary(sealed),
                    "updated_at": datetime.now(UTC),
                }
            },
            upsert=True,
        )

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count


def _key(user_id: str, modality: str) -> str:
    return f"{modality}:{user_id}"
