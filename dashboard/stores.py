"""What the dashboard reads from MongoDB: how many users are enrolled, and the model registry
(every version with its status and lineage)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core import docstore
from core.objectstore import ObjectStore
from core.registry.store import ModelRecord, ModelRegistry, ModelStatus
from core.settings import Settings

# The gateway's collection of enrolled people (declared with its index in core/docstore.py).
USERS = "users"


class StoreFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    users: int
    models: list[ModelRecord]

    @property
    def active(self) -> list[ModelRecord]:
        return [m for m in self.models if m.status is ModelStatus.ACTIVE]

    @property
    def trained(self) -> list[ModelRecord]:
        """Versions a LifeModo job trained (not packaged, not imported)."""
        return [m for m in self.models if m.manifest.training_job_id is not None]


class Stores:
    """One MongoDB client, opened on first use by the event loop that uses it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: docstore.Client | None = None

    async def figures(self) -> StoreFigures:
        if self._client is None:
            self._client = docstore.client(self._settings)
        db = self._client[self._settings.mongo.database]
        registry = ModelRegistry(db, ObjectStore(self._settings))
        return StoreFigures(
            users=await db[USERS].count_documents({}), models=await registry.versions()
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
