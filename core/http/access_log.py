"""Access logs without personal data: the route's template, never the path it was called with.

``DELETE /users/alice`` is logged as ``DELETE /users/{user_id}``: a user id in a path would
otherwise outlive the user's erasure in every log store. Replaces uvicorn's access log.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logging import get_logger

log = get_logger("http.access")
# Scope key for the route template of a request refused before routing (core/http/doors.py).
ROUTE_TEMPLATE = "kibalock.route_template"


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            route = getattr(scope.get("route"), "path", None)
            log.info(
                "request",
                method=scope["method"],
                route=route or scope.get(ROUTE_TEMPLATE, "(no route)"),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
