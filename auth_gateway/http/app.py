"""The FastAPI application: the routers, the error handlers, and a lazily loaded gateway."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from auth_gateway.gateway import Gateway
from auth_gateway.http import admin, models, ops, terminal
from core.http.errors import install_error_handlers


def create_app(gateway_ref: Callable[[], Gateway | None]) -> FastAPI:
    """The app reads the gateway through ``gateway_ref``: it exists once the engines loaded."""
    app = FastAPI(
        title="KibaLock gateway",
        description="Voice + face login: challenges, verification, enrolment, erasure, models.",
        version="0.1.0",
    )
    app.state.gateway_ref = gateway_ref
    install_error_handlers(app, "gateway")
    for router in (terminal.router, admin.router, models.router, ops.router):
        app.include_router(router)
    return app
