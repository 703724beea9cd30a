"""Operations endpoints' bodies: liveness, readiness, and the Prometheus exposition."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

METRICS_RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": "Prometheus text exposition format"}
}


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str] = Field(
        description="each component: `ok` (or `loaded`), or what it is waiting for, or `error: …`"
    )


def metrics_response(registry: CollectorRegistry = REGISTRY) -> Response:
    """The registry's metrics, for Prometheus to scrape."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# Every service's liveness route; readiness and metrics are each service's own.
health_router = APIRouter(tags=["operations"])


@health_router.get("/healthz")
async def healthz() -> Health:
    """Answers as soon as the process serves HTTP."""
    return Health(status="ok")


async def probe_stores(
    ping_documents: Callable[[], Awaitable[object]], list_buckets: Callable[[], Awaitable[object]]
) -> dict[str, str]:
    """Whether the document store and the object store answer: ``ok`` or ``error: …``."""
    checks: dict[str, str] = {}
    for name, call in (("mongo", ping_documents), ("objects", list_buckets)):
        try:
            await call()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}"
    return checks
