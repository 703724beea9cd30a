"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from core.http.ops import METRICS_RESPONSES, Readiness, metrics_response
from trainer.http.deps import Runtime

router = APIRouter(tags=["operations"])
PARTS = ("consumer", "activations", "worker", "retention")


@router.get(
    "/readyz",
    responses={503: {"model": Readiness, "description": "Not ready: see `checks`"}},
)
async def readyz(runtime: Runtime, response: Response) -> Readiness:
    """Ready while both consumers (triggers, gateway reports), the worker and the retention
    sweep run and the stores answer."""
    checks = {part: _task_state(runtime, part) for part in PARTS}
    checks |= await runtime.probe()
    ready = all(value == "ok" for value in checks.values())
    response.status_code = 200 if ready else 503
    return Readiness(ready=ready, checks=checks)


def _task_state(runtime: Runtime, part: str) -> str:
    task = runtime.tasks.get(part)
    if task is None:
        return "not started"
    if not task.done():
        return "ok"
    if task.cancelled():
        return "stopped"
    error = task.exception()
    return f"error: {type(error).__name__}" if error else "stopped"


@router.get("/metrics", response_class=PlainTextResponse, responses=METRICS_RESPONSES)
async def metrics(runtime: Runtime) -> Response:
    """The trainer's metrics (jobs by state, job durations), for Prometheus to scrape."""
    runtime.service.telemetry.set_jobs(await runtime.store.count_by_state())
    return metrics_response(runtime.service.telemetry.registry)
