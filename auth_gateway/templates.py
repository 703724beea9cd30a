"""Enrolment templates in MongoDB, one document per user × modality × model version, encrypted."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from bson import Binary
from pymongo.errors import BulkWriteError

from auth_gateway.crypto import TemplateCipher
from core.docstore import Database

DUPLICATE_KEY = 11000


class TemplateStore:
    def __init__(self, db: Database, cipher: TemplateCipher) -> None:
        self._coll = db["templates"]
        self._cipher = cipher
        self.pseudonym = cipher.pseudonym

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

    async def load_many(
        self, user_ids: list[str], modality: str, model_version: str
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Several users' templates of one modality and version, in one query."""
        query = {"user_id": {"$in": user_ids}, "modality": modality, "model_version": model_version}
        return {
            doc["user_id"]: self._cipher.open(
                bytes(doc["sealed"]),
                user_id=doc["user_id"],
                modality=modality,
                version=model_version,
            )
            async for doc in self._coll.find(query)
        }

    async def users_with(self, modality: str, model_version: str) -> set[str]:
        cursor = self._coll.find(
            {"modality": modality, "model_version": model_version}, {"user_id": 1}
        )
        return {doc["user_id"] async for doc in cursor}

    async def add_many(
        self,
        modality: str,
        model_version: str,
        vectors: Iterable[tuple[str, npt.NDArray[np.float32]]],
    ) -> int:
        """Inserts templates that do not exist yet, in one round trip; returns how many.

        One that exists already (another gateway instance, or an enrolment, wrote it) is left
        as it is. An insert, not an upsert: FerretDB runs a bulk insert as one statement and
        bulk upserts one by one.
        """
        now = datetime.now(UTC)
        docs = [
            {
                "user_id": user_id,
                "modality": modality,
                "model_version": model_version,
                "sealed": Binary(
                    self._cipher.seal(
                        array, user_id=user_id, modality=modality, version=model_version
                    )
                ),
                "samples": int(array.shape[0]),
                "updated_at": now,
            }
            for user_id, array in vectors
        ]
        if not docs:
            return 0
        try:
            result = await self._coll.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            return int(exc.details.get("nInserted", 0))
        return len(result.inserted_ids)

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
