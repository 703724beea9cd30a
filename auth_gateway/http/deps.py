"""What routes depend on: the loaded gateway, and the admin key for admin routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security

from auth_gateway.gateway import Gateway
from core.http.admin_key import ADMIN_DISABLED, ADMIN_KEY, UNAUTHORIZED, check_admin_key
from core.http.errors import ApiError

STARTING = "`starting`: the gateway is still loading its models"
ADMIN_ERRORS = {401: UNAUTHORIZED, 503: f"{STARTING}; {ADMIN_DISABLED}"}


def loaded_gateway(request: Request) -> Gateway | None:
    """The gateway, once its engines are loaded (the HTTP server answers before that)."""
    gateway: Gateway | None = request.app.state.gateway_ref()
    return gateway


def current_gateway(request: Request) -> Gateway:
    gateway = loaded_gateway(request)
    if gateway is None:
        raise ApiError(503, "starting", "the gateway is still loading its models")
    return gateway


Gw = Annotated[Gateway, Depends(current_gateway)]


def require_admin(gw: Gw, api_key: Annotated[str | None, Security(ADMIN_KEY)]) -> None:
    check_admin_key(gw.admin_key, api_key)
