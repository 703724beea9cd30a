"""Keys checked at the door: before a request's body is read, before any route runs.

FastAPI reads and parses a request's body (JSON, or multipart spooled to disk) before it runs a
route's dependencies, so a security dependency alone lets a caller with no key, or a wrong one,
make the service receive and parse a body it then refuses, and learn from a 400 or 422 what the
body got wrong. :class:`DoorKeeper` answers first, for every operation whose OpenAPI security
names a :class:`Door`'s scheme. The routes keep their own security dependency: it is what puts
the scheme in the document, and it still checks the key where the door only checks presence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from core.http.access_log import ROUTE_TEMPLATE
from core.http.errors import ApiError, send_error


@dataclass(frozen=True)
class Door:
    """The operations secured by ``scheme`` need the header ``header``.

    ``missing`` is the answer without it; ``check`` vets its value (raising :class:`ApiError`),
    or is None where the value can only be judged with the body (a terminal's key, bound to the
    ``terminal_id`` the body names).
    """

    scheme: str
    header: str
    missing: ApiError
    check: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Guarded:
    method: str
    template: str
    pattern: re.Pattern[str]
    door: Door


class DoorKeeper:
    def __init__(self, app: ASGIApp, *, api: FastAPI, doors: Sequence[Door]) -> None:
        self.app = app
        self.api = api
        self.doors = doors
        self._guarded: list[Guarded] | None = None

    def guarded(self) -> list[Guarded]:
        """Each secured operation and its door, read from the document once every router is
        in."""
        if self._guarded is None:
            self._guarded = [
                Guarded(method.upper(), path, compile_path(path)[0], door)
                for path, operations in self.api.openapi()["paths"].items()
                for method, operation in operations.items()
                for door in self.doors
                if any(door.scheme in need for need in operation.get("security", []))
            ]
        return self._guarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.refusal(scope)
            if refused is not None:
                await send_error(send, refused.status, refused.code, refused.message)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> ApiError | None:
        """Why the request may not come in, or None."""
        path, root = scope["path"], scope.get("root_path", "")
        path = path.removeprefix(root) if root and path.startswith(root) else path
        headers = Headers(scope=scope)
        for operation in self.guarded():
            if operation.method != scope["method"] or not operation.pattern.match(path):
                continue
            # The access log names the operation, never the path (it may carry a user id).
            scope[ROUTE_TEMPLATE] = operation.template
            door = operation.door
            presented = headers.get(door.header)
            if presented is None:
                return door.missing
            if door.check is not None:
                try:
                    door.check(presented)
                except ApiError as refused:
                    return refused
        return None
