"""What routes depend on: the loaded gateway, and the admin key for admin routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from auth_gateway.gateway import Gateway
from core.http.admin_key import ADMIN_DISABLED, ADMIN_KEY, UNAUTHORIZED, check_admin_key
from core.http.doors import Door
from core.http.errors import ApiError

TERMINAL_KEY = APIKeyHeader(
    name="X-Terminal-Key",
    scheme_name="TerminalKey",
    auto_error=False,
    description="the terminal's own key (`kibalock gateway terminal-key TERMINAL_ID`)",
)
# Only its presence at the door: the key is the key of the terminal_id in the body.
TERMINAL_DOOR = Door(
    scheme=TERMINAL_KEY.scheme_name,
    header=TERMINAL_KEY.model.name,
    missing=ApiError(
        401, "unauthorized_terminal", "a valid X-Terminal-Key for this terminal is required"
    ),
)
STARTING = "`starting`: the gateway is still loading its models"
TERMINAL_ERRORS = {
    401: "`unauthorized_terminal`: no valid `X-Terminal-Key` for this terminal_id",
    503: f"{STARTING}; `terminals_disabled`: no terminal master key is configured",
}
ADMIN_ERRORS = {401: UNAUTHORIZED, 503: f"{STARTING}; {ADMIN_DISABLED}"}


def loaded_gateway(request: Request) -> Gateway | None:
    """The gateway, once its engines are loaded (the HTTP server answers before that)."""
    gateway: Gateway | None = request.app.state.gateway_ref()
    return gateway


def ready(gateway: Gateway | None) -> Gateway:
    """``gateway`` once it is loaded; 503 ``starting`` before."""
    if gateway is None:
        raise ApiError(503, "starting", "the gateway is still loading its models")
    return gateway


def current_gateway(request: Request) -> Gateway:
    return ready(loaded_gateway(request))


Gw = Annotated[Gateway, Depends(current_gateway)]


def require_admin(gw: Gw, api_key: Annotated[str | None, Security(ADMIN_KEY)]) -> None:
    check_admin_key(gw.admin_key, api_key)


TerminalKey = Annotated[str | None, Security(TERMINAL_KEY)]


def require_terminal(gw: Gateway, terminal_id: str, presented: str | None) -> None:
    """Refuses a request whose key is not ``terminal_id``'s own (before any side effect)."""
    if not gw.terminals.enabled:
        raise ApiError(503, "terminals_disabled", "no terminal master key is configured")
    if not gw.terminals.check(terminal_id, presented):
        raise ApiError(
            401, "unauthorized_terminal", "a valid X-Terminal-Key for this terminal is required"
        )
