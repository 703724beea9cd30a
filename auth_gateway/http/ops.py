"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from auth_gateway.http.deps import loaded_gateway
from core.http.ops import METRICS_RESPONSES, Readiness, metrics_response
from core.supervise import Supervisor

router = APIRouter(tags=["operations"])


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
    responses=METRICS_RESPONSES,
)
async def metrics() -> Response:
    """The process's metrics, for Prometheus to scrape."""
    return metrics_response()
