"""Users' personal models (LifeModo's per-user jobs), looked up at verify time.

A record in ``personal_models`` names the user's current model: a signed manifest and an ONNX
graph in the ``models`` bucket. The gateway uses it only while the shared version it was fitted
in is the one that analysed the probe, and only when the manifest verifies with a trusted key
and the graph matches the signed sha256; anything else is logged and ignored, so a bad personal
model never replaces the shared score. Verified graphs are kept by record and sha256 (an LRU),
so a verify costs one point lookup by ``_id``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from pydantic import ValidationError

from core.docstore import Database
from core.logging import get_logger
from core.objectstore import IntegrityError, ObjectStore, ObjectStoreError, sha256_hex
from core.signing import SigningError, TrustedKeys
from schemas.model_catalog import ModelRef
from schemas.personal import PersonalManifest, personal_record_id
from schemas.values import MediaRef

log = get_logger(__name__)

PERSONAL_MODELS = "personal_models"
_INPUT = "embedding"


@dataclass(frozen=True)
class PersonalScorer:
    """One user's verified personal model: ``score(embedding)`` on the shared raw scale."""

    version: str
    session: ort.InferenceSession

    def score(self, embedding: NDArray[np.floating]) -> float:
        probe = np.atleast_2d(embedding).astype(np.float32)
        (scores,) = self.session.run(None, {_INPUT: probe})
        return float(np.asarray(scores).reshape(-1)[0])


class PersonalModelRejected(Exception):
    """The record, manifest or graph does not hold together: the model is not used."""


class PersonalModels:
    def __init__(
        self, db: Database, objects: ObjectStore, trust: TrustedKeys, cached: int = 1024
    ) -> None:
        self._coll = db[PERSONAL_MODELS]
        self._objects = objects
        self._trust = trust
        self._cached = cached
        self._scorers: OrderedDict[str, PersonalScorer | None] = OrderedDict()

    async def for_user(self, user_id: str, shared: ModelRef) -> PersonalScorer | None:
        """``user_id``'s personal model of ``shared.name`` fitted in ``shared``'s version."""
        record_id = personal_record_id(shared.name, user_id)
        doc = await self._coll.find_one({"_id": record_id})
        if doc is None or doc.get("for_version") != shared.version:
            return None
        # By record and content: the manifest binds the graph to one user.
        key = f"{record_id}:{doc.get('artifact', {}).get('sha256', '')}"
        if key in self._scorers:
            self._scorers.move_to_end(key)
            return self._scorers[key]
        try:
            scorer: PersonalScorer | None = await self._verified(doc, user_id, shared)
        except PersonalModelRejected as exc:
            log.warning("personal model rejected", model=shared.name, reason=str(exc))
            scorer = None  # remembered: a rejected model is not downloaded at every attempt
        except ObjectStoreError as exc:
            # Missing or unreadable for now: the shared score serves, and the next attempt retries.
            log.warning("personal model unavailable", model=shared.name, error=str(exc))
            return None
        self._scorers[key] = scorer
        while len(self._scorers) > self._cached:
            self._scorers.popitem(last=False)
        return scorer

    async def _verified(
        self, doc: dict[str, object], user_id: str, shared: ModelRef
    ) -> PersonalScorer:
        try:
            artifact = MediaRef.model_validate(doc["artifact"])
            described = MediaRef.model_validate(doc["manifest"])
            manifest = PersonalManifest.model_validate_json(
                await self._objects.get_bytes(described)
            )
            self._trust.verify_document(manifest)
            data = await self._objects.get_bytes(artifact)
        except (KeyError, ValidationError, IntegrityError, SigningError) as exc:
            raise PersonalModelRejected(f"{type(exc).__name__}: {exc}") from exc
        if (manifest.model, manifest.user_id, manifest.for_version) != (
            shared.name,
            user_id,
            shared.version,
        ):
            raise PersonalModelRejected("the signed manifest names another user or version")
        if sha256_hex(data) != manifest.sha256 or manifest.version != doc.get("version"):
            raise PersonalModelRejected("the graph or the record differ from the signed manifest")
        try:
            session = await asyncio.to_thread(
                ort.InferenceSession, data, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
            raise PersonalModelRejected(f"unloadable graph: {exc}") from exc
        return PersonalScorer(version=manifest.version, session=session)

    async def erase_user(self, user_id: str) -> int:
        return (await self._coll.delete_many({"user_id": user_id})).deleted_count
