"""The FastAPI application of the trainer."""

from __future__ import annotations

from fastapi import FastAPI

from core.http.admin_key import admin_door
from core.http.doors import DoorKeeper
from core.http.errors import install_error_handlers
from core.http.guard import RequestGuard
from core.http.ops import health_router
from trainer.bootstrap import TrainerRuntime
from trainer.http import jobs, ops

# A retrain request is a few short fields.
MAX_BODY_BYTES = 16 * 1024


def create_app(runtime: TrainerRuntime) -> FastAPI:
    app = FastAPI(
        title="KibaLock trainer (LifeModo)",
        description="Retrain requests and the state of training jobs.",
        version="0.1.0",
    )
    app.state.runtime = runtime
    install_error_handlers(app, "trainer")
    # Outermost last: the size, then the admin key, both before any body is read.
    app.add_middleware(DoorKeeper, api=app, doors=[admin_door(lambda: runtime.admin_key)])
    app.add_middleware(RequestGuard, max_body_bytes=lambda _: MAX_BODY_BYTES)
    for router in (jobs.router, ops.router, health_router):
        app.include_router(router)
    return app
