"""Namespaces on the shared local stack: what tests and benchmarks leave behind, swept away."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from core import docstore
from core.kafka_client import client_options
from core.settings import Settings


async def sweep_namespaces(settings: Settings, tags: set[str]) -> tuple[int, int]:
    """Deletes the topics and drops the databases of the namespaces ``tags``; returns how many
    of each went. Buckets stay: an empty bucket costs the object store nothing."""
    prefixes = tuple(f"{tag}." for tag in tags)
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefixes)]
        for start in range(0, len(doomed), 200):
            await admin.delete_topics(doomed[start : start + 200])
    finally:
        await admin.close()
    client = docstore.client(settings)
    try:
        names = {f"kibalock_{tag}" for tag in tags}
        dropped = [n for n in await client.list_database_names() if n in names]
        for name in dropped:
            await client.drop_database(name)
    finally:
        await client.close()
    return len(doomed), len(dropped)
