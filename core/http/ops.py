"""Operations endpoints' bodies: liveness, readiness, and the Prometheus exposition."""

from __future__ import annotations

from typing import Literal

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
