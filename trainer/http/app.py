"""The FastAPI application of the trainer."""

from __future__ import annotations

from fastapi import FastAPI

from core.http.errors import install_error_handlers
from core.http.ops import health_router
from trainer.bootstrap import TrainerRuntime
from trainer.http import jobs, ops


def create_app(runtime: TrainerRuntime) -> FastAPI:
    app = FastAPI(
        title="KibaLock trainer (LifeModo)",
        description="Retrain requests and the state of training jobs.",
        version="0.1.0",
    )
    app.state.runtime = runtime
    install_error_handlers(app, "trainer")
    for router in (jobs.router, ops.router, health_router):
        app.include_router(router)
    return app
