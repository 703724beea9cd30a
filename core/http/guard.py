"""Refusing a request whose body is too big, before it is read.

FastAPI reads (and spools to disk) a whole multipart body before any dependency runs, so a route's
own checks come too late to protect the process: anyone could make it receive gigabytes. This
ASGI middleware answers first: ``413 too_large`` when ``Content-Length`` says the body is over
the limit, or when the bytes received pass it (a chunked body). Keys are checked before this, by
:mod:`core.http.doors`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.http.errors import send_error


class _TooLarge(BaseException):
    """Not an ``Exception``: FastAPI turns any ``Exception`` raised while it parses a body into a
    400, and this must reach the guard to become a 413."""


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: Callable[[str], int],
    ) -> None:
        self.app = app
        # A callable of the path: the limit comes from settings that may be loaded after the
        # app is built, and an upload route may allow more than the others.
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        limit = self.max_body_bytes(scope["path"])
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, 413, "too_large", f"the request body is over {limit} bytes")
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
                await send_error(send, 413, "too_large", f"the request body is over {limit} bytes")
