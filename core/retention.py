"""Retention of raw biometric media (NIST SP 800-63B: keep samples no longer than needed): the
cutoff of a retention period, and the timer a service sweeps on.

Each service sweeps its own media (the gateway its attempts' uploads, the trainer its curated
samples); what is shared is when a medium is too old and how a sweep is repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from minio.error import S3Error
from pymongo.errors import PyMongoError

from core.logging import get_logger
from core.objectstore import ObjectStoreError

log = get_logger(__name__)

# What a sweep may meet when a store is down or slow: the next tick tries again.
STORE_ERRORS = (PyMongoError, S3Error, ObjectStoreError, OSError)


def cutoff(days: float, now: datetime | None = None) -> datetime:
    """Media written before this are past a retention of ``days``."""
    return (now or datetime.now(UTC)) - timedelta(days=days)


async def sweep_every(
    interval_s: float, sweep: Callable[[], Awaitable[object]], stop: asyncio.Event, *, what: str
) -> None:
    """Runs ``sweep`` every ``interval_s`` until ``stop`` is set; a sweep that fails on a store
    error is logged and tried again at the next tick."""
    while not stop.is_set():
        try:
            await sweep()
        except STORE_ERRORS:
            log.exception("retention sweep failed", sweep=what)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            continue
