"""Refusing a request before its body is read: too big, or without the credentials it needs.

FastAPI reads (and spools to disk) a whole multipart body before any dependency runs, so a route's
own checks come too late to protect the process: anyone could make it receive gigabytes. This
ASGI middleware answers first: ``413 too_large`` when ``Content-Length`` says the body is over
the limit, or when the bytes received pass it (a chunked body); ``401 unauthorized`` for the
paths that need a header (the admin key, say) when that header is missing. The routes still check
the header's value; this only stops the anonymous at the door.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(BaseException):
    """Not an ``Exception``: FastAPI turns any ``Exception`` raised while it parses a body into a
    400, and this must reach the guard to become a 413."""


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: Callable[[str], int],
        header_required: dict[str, Collection[str]] | None = None,
    ) -> None:
        self.app = app
        # A callable of the path: the limit comes from settings that may be loaded after the
        # app is built, and an upload route may allow more than the others.
        self.max_body_bytes = max_body_bytes
        # header name (lower case) -> the paths that need it
        self.header_required = header_required or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        for header, paths in self.header_required.items():
            if scope["path"] in paths and header not in headers:
                await _answer(send, 401, "unauthorized", f"a valid {header} header is required")
                return
        limit = self.max_body_bytes(scope["path"])
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, "too_large", f"the request body is over {limit} bytes")
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _answer(send, 413, "too_large", f"the request body is over {limit} bytes")


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
