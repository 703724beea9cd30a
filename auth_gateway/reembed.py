"""Re-embedding: templates of every enrolled user for a new embedder version, before the swap.

Adapters work on base embeddings, so a user's templates for any version are the adapter applied
to their stored base features (kept encrypted at enrolment as template version
``{model}:base@{base version}``). Users enrolled before base features were kept have them
computed once from their raw enrolment samples by the engines, then stored. Users go in
batches: one query for their features, one adapter run, one bulk insert.

A pass skips users who already have the version's templates: it is idempotent, cheap to repeat
(the catch-up passes around a swap), and two gateway instances preparing the same version
share the work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from auth_gateway.analysis import Analyser
from auth_gateway.templates import TemplateStore
from core.docstore import Database, Document
from core.objectstore import ObjectStore
from core.registry import LoadedModel
from schemas import MediaRef
from schemas.model_catalog import BASE_VERSION


def features_version(model: str) -> str:
    """Where a user's base features are stored, beside the templates of each version."""
    return f"{model}:base@{BASE_VERSION}"


@dataclass(frozen=True)
class ReembedReport:
    users: int
    templates: int
    from_media: int
    seconds: float


class ReEmbedder:
    def __init__(
        self,
        db: Database,
        templates: TemplateStore,
        objects: ObjectStore,
        analyser: Analyser | None,
        *,
        batch: int,
    ) -> None:
        self._users = db["users"]
        self._templates = templates
        self._objects = objects
        self._analyser = analyser
        self._batch = batch

    async def run(self, model: LoadedModel) -> ReembedReport:
        started = time.perf_counter()
        modality = model.slot.modality
        target = str(model.ref)
        done = await self._templates.users_with(modality, target)
        todo = [
            doc
            async for doc in self._users.find(
                {"enrol_samples": {"$exists": True}}, {"user_id": 1, "enrol_samples": 1}
            )
            if doc["user_id"] not in done
        ]
        saved = from_media = 0
        for i in range(0, len(todo), self._batch):
            chunk = todo[i : i + self._batch]
            features = await self._templates.load_many(
                [doc["user_id"] for doc in chunk], modality, features_version(model.name)
            )
            for doc in chunk:
                if doc["user_id"] not in features:
                    base = await self._from_media(doc, model)
                    from_media += 1
                    if base is not None:
                        features[doc["user_id"]] = base
            saved += await self._templates.add_many(modality, target, _embed(model, features))
        return ReembedReport(
            users=len(todo),
            templates=saved,
            from_media=from_media,
            seconds=time.perf_counter() - started,
        )

    async def _from_media(self, user: Document, model: LoadedModel) -> NDArray[np.float32] | None:
        """Base features from the raw enrolment samples, stored for next time."""
        if self._analyser is None:
            return None  # no engines here (benchmarks): such a user is skipped
        modality = model.slot.modality
        analyse = self._analyser.face if modality == "face" else self._analyser.voice
        vectors = []
        for sample in user.get("enrol_samples") or []:
            if sample["modality"] != modality:
                continue
            data = await self._objects.get_bytes(MediaRef.model_validate(sample["ref"]))
            result = await analyse(data)
            if result.base_embedding is not None:
                vectors.append(result.base_embedding.reshape(-1))
        if not vectors:
            return None
        base = np.stack(vectors).astype(np.float32)
        await self._templates.save(user["user_id"], modality, features_version(model.name), base)
        return base


def _embed(
    model: LoadedModel, features: dict[str, NDArray[np.float32]]
) -> list[tuple[str, NDArray[np.float32]]]:
    # One adapter run for the whole batch, split back per user.
    if not features:
        return []
    users = list(features)
    sizes = [features[u].shape[0] for u in users]
    out = model.embed(np.concatenate([features[u] for u in users]))
    bounds = np.cumsum([0, *sizes])
    return [(u, out[bounds[k] : bounds[k + 1]]) for k, u in enumerate(users)]
