"""The FastAPI application: the routers, the error handlers, and a lazily loaded gateway."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from auth_gateway.gateway import Gateway
from auth_gateway.http import admin, models, ops, terminal
from auth_gateway.http.deps import TERMINAL_DOOR, ready
from auth_gateway.http.uploads import MODEL_UPLOAD_FACTOR
from core.http.access_log import AccessLog
from core.http.admin_key import admin_door
from core.http.doors import DoorKeeper
from core.http.errors import install_error_handlers
from core.http.guard import RequestGuard
from core.http.ops import health_router
from core.settings.gateway import GatewaySection

# The form's other fields and boundaries, beside a model file of the largest size allowed.
FORM_OVERHEAD = 64 * 1024


def create_app(gateway_ref: Callable[[], Gateway | None]) -> FastAPI:
    """The app reads the gateway through ``gateway_ref``: it exists once the engines loaded."""
    app = FastAPI(
        title="KibaLock gateway",
        description="Voice + face login: challenges, verification, enrolment, erasure, models.",
        version="0.1.0",
    )
    app.state.gateway_ref = gateway_ref
    install_error_handlers(app, "gateway")

    def body_limit(path: str) -> int:
        gateway = gateway_ref()
        options = GatewaySection() if gateway is None else gateway.settings.gateway
        if path == "/api/import_model":
            return MODEL_UPLOAD_FACTOR * options.max_upload_bytes + FORM_OVERHEAD
        return options.max_request_bytes

    # Outermost last: the access log, then the size, then the keys, all before any body is read.
    doors = [admin_door(lambda: ready(gateway_ref()).admin_key), TERMINAL_DOOR]
    app.add_middleware(DoorKeeper, api=app, doors=doors)
    app.add_middleware(RequestGuard, max_body_bytes=body_limit)
    app.add_middleware(AccessLog)
    for router in (terminal.router, admin.router, models.router, ops.router, health_router):
        app.include_router(router)
    return app
