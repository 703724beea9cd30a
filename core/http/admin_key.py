"""The admin API key: one ``X-API-Key`` header, compared in constant time with the configured key.

The gateway, the trainer and the dashboard read the same key (``gateway.api_key`` or
``gateway.api_key_file``): one admin credential per deployment.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from core.http.doors import Door
from core.http.errors import ApiError

ADMIN_KEY = APIKeyHeader(
    name="X-API-Key",
    scheme_name="AdminKey",
    auto_error=False,
    description="the admin API key configured on the gateway",
)
UNAUTHORIZED = "`unauthorized`: no valid `X-API-Key` header"
ADMIN_DISABLED = "`admin_disabled`: no admin API key is configured"


def admin_key_matches(expected: SecretStr, given: str) -> bool:
    """Whether ``given`` is the admin key, compared in constant time (no timing oracle)."""
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


def _unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "a valid X-API-Key header is required")


def check_admin_key(expected: SecretStr | None, given: str | None) -> None:
    """Raises :class:`ApiError` 503 without a configured key, 401 for a missing or wrong one."""
    if expected is None:
        raise ApiError(503, "admin_disabled", "no admin API key is configured")
    if given is None or not admin_key_matches(expected, given):
        raise _unauthorized()


def admin_door(expected: Callable[[], SecretStr | None]) -> Door:
    """The admin key checked at the door; ``expected`` gives the configured key when a request
    comes (or raises :class:`ApiError`, e.g. while the service is starting)."""
    return Door(
        scheme=ADMIN_KEY.scheme_name,
        header=ADMIN_KEY.model.name,
        missing=_unauthorized(),
        check=lambda given: check_admin_key(expected(), given),
    )
