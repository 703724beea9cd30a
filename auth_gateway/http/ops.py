"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from auth_gateway.http.deps import loaded_gateway
from core.supervise import Supervisor

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str] = Field(
        description="`engines`: `loaded` or `loading`; each backend: `ok` or `error: …`"
    )


@router.get("/healthz")
async def healthz() -> Health:
    """Answers as soon as the process serves HTTP."""
    return Health(status="ok")


@router.get(
    "/readyz",
    responses={503: {"model": Readiness, "description": "Not ready: see `checks`"}},
)
async def readyz(request: Request, response: Response) -> Readiness:
    """Ready once the models are loaded and the document and object stores answer."""
    gw = loaded_gateway(request)
    checks = {"engines": "loading"} if gw is None else {"engines": "loaded", **await gw.probe()}
    # The service's supervised tasks (consumers, registry sync): a dead consumer is not ready.
    tasks: Supervisor | None = getattr(request.app.state, "tasks", None)
    if tasks is not None:
        checks |= tasks.states()
    # "stopped": a task that finished its work (the purge where the server has TTL indexes).
    ready = all(v in {"ok", "loaded", "stopped"} for v in checks.values())
    response.status_code = 200 if ready else 503
    return Readiness(ready=ready, checks=checks)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition format"}},
)
async def metrics() -> Response:
    """The process's metrics, for Prometheus to scrape."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
