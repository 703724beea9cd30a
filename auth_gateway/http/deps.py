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
    scheme_name="AdminKey",
    auto_error=False,
    description="the admin API key configured on the gateway",
)
TERMINAL_KEY = APIKeyHeader(
    name="X-Terminal-Key",
    scheme_name="TerminalKey",
    auto_error=False,
    description="the terminal's own key (`kibalock gateway terminal-key TERMINAL_ID`)",
)
STARTING = "`starting`: the gateway is still loading its models"
TERMINAL_ERRORS = {
    401: "`unauthorized_terminal`: no valid `X-Terminal-Key` for this terminal_id",
    503: f"{STARTING}; `terminals_disabled`: no terminal master key is configured",
}
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


TerminalKey = Annotated[str | None, Security(TERMINAL_KEY)]


def require_terminal(gw: Gateway, terminal_id: str, presented: str | None) -> None:
    """Refuses a request whose key is not ``terminal_id``'s own (before any side effect)."""
    if not gw.terminals.enabled:
        raise ApiError(503, "terminals_disabled", "no terminal master key is configured")
    if not gw.terminals.check(terminal_id, presented):
        raise ApiError(
            401, "unauthorized_terminal", "a valid X-Terminal-Key for this terminal is required"
        )
