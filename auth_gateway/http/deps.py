"""What routes depend on: the loaded gateway, and the admin key for admin routes."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from auth_gateway.gateway import Gateway
from auth_gateway.http.errors import ApiError

ADMIN_KEY = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="the admin API key configured on the gateway",
)
STARTING = "`starting`: the gateway is still loading its models"
ADMIN_ERRORS = {
    401: "`unauthorized`: no valid `X-API-Key` header",
    503: f"{STARTING}; `admin_disabled`: no admin API key is configured",
}


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
    expected = gw.admin_key
    if expected is None:
        raise ApiError(503, "admin_disabled", "no admin API key is configured")
    if api_key is None or not hmac.compare_digest(
        api_key.encode(), expected.get_secret_value().encode()
    ):
        raise ApiError(401, "unauthorized", "a valid X-API-Key header is required")
