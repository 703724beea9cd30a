"""Enrolment templates in MongoDB, one document per user × modality × model version, encrypted."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from bson import Binary

from auth_gateway.crypto import TemplateCipher
from core.docstore import Database


class TemplateStore:
    def __init__(self, db: Database, cipher: TemplateCipher) -> None:
        self._coll = db["templates"]
        self._cipher = cipher

    async def save(
        self,
        user_id: str,
        modality: str,
        model_version: str,
        vectors: npt.NDArray[np.float32],
    ) -> None:
        blob = self._cipher.seal(vectors, user_id=user_id, modality=modality, version=model_version)
        await self._coll.update_one(
            {"user_id": user_id, "modality": modality, "model_version": model_version},
            {
                "$set": {
                    "sealed": Binary(blob),
                    "samples": int(vectors.shape[0]),
                    "updated_at": datetime.now(UTC),
                }
            },
            upsert=True,
        )

    async def load(
        self, user_id: str, modality: str, model_version: str
    ) -> npt.NDArray[np.float32] | None:
        doc = await self._coll.find_one(
            {"user_id": user_id, "modality": modality, "model_version": model_version}
        )
        if doc is None:
            return None
        return self._cipher.open(
            bytes(doc["sealed"]), user_id=user_id, modality=modality, version=model_version
        )

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
