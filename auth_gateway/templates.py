"""Enrolment templates in MongoDB, one document per user × modality × model version, encrypted.

Each user has a template generation, kept in their ``users`` document and raised by every
enrolment. A template is sealed with the generation it was made in and the key's id (both in
the cipher's associated data, both beside it in clear); it opens only if its generation is the
user's or newer. So a template put back from before the user's last enrolment — a database
writer restoring old biometrics — is refused instead of served, while templates written during
an enrolment in progress (one generation ahead) keep working. What this cannot see is the
user's document and templates restored together: nothing outside the database remembers the
generation.

Templates sealed before generations existed (no ``generation`` field) stay readable with the
original context while their user is at generation 0, i.e. until their next enrolment, which
replaces them; after it, one put back is refused like any older template.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from bson import Binary
from pymongo.errors import BulkWriteError

from auth_gateway.crypto import TemplateCipher, TemplateTampered
from core.docstore import Database, Document

DUPLICATE_KEY = 11000
GENERATION = "template_generation"  # the field of the user's document


class TemplateStore:
    def __init__(self, db: Database, cipher: TemplateCipher) -> None:
        self._coll = db["templates"]
        self._users = db["users"]
        self._cipher = cipher
        self.pseudonym = cipher.pseudonym

    async def generation(self, user_id: str) -> int:
        """The user's template generation (0: never enrolled since generations exist)."""
        return (await self._generations([user_id])).get(user_id, 0)

    async def settle(self, user_id: str, generation: int) -> int:
        """Makes ``generation`` the user's (an enrolment wrote its templates in it) and deletes
        their templates of older generations, which no longer open; returns how many.
        Versions it did not write are re-embedded from the new features when needed."""
        await self._users.update_one(
            {"user_id": user_id}, {"$set": {GENERATION: generation}}, upsert=True
        )
        stale = await self._coll.delete_many(
            {
                "user_id": user_id,
                "$or": [{"generation": {"$lt": generation}}, {"generation": {"$exists": False}}],
            }
        )
        return stale.deleted_count

    async def save(
        self,
        user_id: str,
        modality: str,
        model_version: str,
        vectors: npt.NDArray[np.float32],
        *,
        generation: int | None = None,
    ) -> None:
        """Seals and stores a template in ``generation`` (default: the user's current one)."""
        if generation is None:
            generation = await self.generation(user_id)
        await self._coll.update_one(
            {"user_id": user_id, "modality": modality, "model_version": model_version},
            {"$set": self._sealed(user_id, modality, model_version, vectors, generation)},
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
        return self._open(doc, await self.generation(user_id))

    async def load_many(
        self, user_ids: list[str], modality: str, model_version: str
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Several users' templates of one modality and version, in two queries."""
        generations = await self._generations(user_ids)
        query = {"user_id": {"$in": user_ids}, "modality": modality, "model_version": model_version}
        return {
            doc["user_id"]: self._open(doc, generations.get(doc["user_id"], 0))
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
        rows = list(vectors)
        generations = await self._generations([user_id for user_id, _ in rows])
        docs = [
            {
                "user_id": user_id,
                "modality": modality,
                "model_version": model_version,
                **self._sealed(
                    user_id, modality, model_version, array, generations.get(user_id, 0)
                ),
            }
            for user_id, array in rows
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

    async def _generations(self, user_ids: list[str]) -> dict[str, int]:
        cursor = self._users.find({"user_id": {"$in": user_ids}}, {"user_id": 1, GENERATION: 1})
        return {doc["user_id"]: int(doc.get(GENERATION, 0)) async for doc in cursor}

    def _sealed(
        self,
        user_id: str,
        modality: str,
        model_version: str,
        vectors: npt.NDArray[np.float32],
        generation: int,
    ) -> dict[str, Any]:
        blob = self._cipher.seal(
            vectors,
            user_id=user_id,
            modality=modality,
            version=model_version,
            generation=generation,
        )
        return {
            "sealed": Binary(blob),
            "samples": int(vectors.shape[0]),
            "key_id": self._cipher.key_id,
            "generation": generation,
            "updated_at": datetime.now(UTC),
        }

    def _open(self, doc: Document, current: int) -> npt.NDArray[np.float32]:
        """The template in ``doc``, if it is of the user's ``current`` generation or newer."""
        user_id, modality, version = doc["user_id"], doc["modality"], doc["model_version"]
        where = f"template of {user_id}/{modality}/{version}"
        generation = doc.get("generation")
        if generation is None and current > 0:
            raise TemplateTampered(f"{where} predates generations, the user is at {current}")
        if generation is not None and int(generation) < current:
            raise TemplateTampered(
                f"{where} is of generation {generation}, the user is at {current}: an older"
                " template put back"
            )
        if generation is not None and doc.get("key_id") != self._cipher.key_id:
            raise TemplateTampered(
                f"{where} was sealed with key {doc.get('key_id')}, this gateway holds"
                f" {self._cipher.key_id}"
            )
        return self._cipher.open(
            bytes(doc["sealed"]),
            user_id=user_id,
            modality=modality,
            version=version,
            generation=None if generation is None else int(generation),
        )
