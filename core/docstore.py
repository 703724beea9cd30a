"""The document store (MongoDB wire protocol, through PyMongo's async API): collections and their
indexes.

The shared collections' indexes are declared once here and created by ``kibalock stack up`` and
by each service at start; a collection private to one service is declared in that service.
TTL indexes are declared as such; on a server that does not implement them (FerretDB 1.x
answers ``NotImplemented``), a plain index is created instead and the owner of the collection
purges expired documents itself with :func:`purge_expired`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from core.settings import Settings, get_settings

NOT_IMPLEMENTED = 238
Document = dict[str, Any]
Client = AsyncMongoClient[Document]
Database = AsyncDatabase[Document]


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: list[tuple[str, int]]
    unique: bool = False
    ttl_seconds: int | None = None


INDEXES: list[IndexSpec] = [
    IndexSpec("users", [("user_id", ASCENDING)], unique=True),
    IndexSpec(
        "templates",
        [("user_id", ASCENDING), ("modality", ASCENDING), ("model_version", ASCENDING)],
        unique=True,
    ),
    IndexSpec("attempts", [("attempt_id", ASCENDING)], unique=True),
    IndexSpec("attempts", [("user_id", ASCENDING), ("decided_at", DESCENDING)]),
    IndexSpec("training_samples", [("sample_id", ASCENDING)], unique=True),
    IndexSpec("training_samples", [("user_id", ASCENDING)]),
    IndexSpec("models", [("name", ASCENDING), ("version", ASCENDING)], unique=True),
    # The activation ledger (core/registry/store.py): one entry per seq, the race's arbiter.
    IndexSpec("model_heads", [("name", ASCENDING), ("seq", ASCENDING)], unique=True),
    IndexSpec("jobs", [("job_id", ASCENDING)], unique=True),
    IndexSpec("audit", [("at", DESCENDING)]),
]


@dataclass
class IndexReport:
    created: list[str] = field(default_factory=list)
    ttl_emulated: list[str] = field(default_factory=list)


def client(settings: Settings | None = None) -> Client:
    """A client bound to the event loop that first uses it; ``await client.close()`` when done."""
    settings = settings or get_settings()
    return AsyncMongoClient(settings.mongo.uri, tz_aware=True, serverSelectionTimeoutMS=10_000)


async def ensure_indexes(db: Database, specs: list[IndexSpec] = INDEXES) -> IndexReport:
    report = IndexReport()
    for spec in specs:
        coll = db[spec.collection]
        if spec.ttl_seconds is not None:
            try:
                name = await coll.create_index(
                    spec.keys, unique=spec.unique, expireAfterSeconds=spec.ttl_seconds
                )
            except OperationFailure as exc:
                if exc.code != NOT_IMPLEMENTED:
                    raise
                name = await coll.create_index(spec.keys, unique=spec.unique)
                report.ttl_emulated.append(f"{spec.collection}.{name}")
        else:
            name = await coll.create_index(spec.keys, unique=spec.unique)
        report.created.append(f"{spec.collection}.{name}")
    return report


async def purge_expired(
    db: Database, now: datetime | None = None, specs: list[IndexSpec] = INDEXES
) -> int:
    """Deletes documents past their TTL field, for servers without TTL indexes."""
    now = now or datetime.now(UTC)
    removed = 0
    for spec in specs:
        if spec.ttl_seconds is None:
            continue
        field_name = spec.keys[0][0]
        cutoff = now.timestamp() - spec.ttl_seconds
        result = await db[spec.collection].delete_many(
            {field_name: {"$lte": datetime.fromtimestamp(cutoff, UTC)}}
        )
        removed += result.deleted_count
    return removed
