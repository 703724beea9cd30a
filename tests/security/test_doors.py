"""Keys are checked at the door: a request without the right key is refused before a byte of its
body is read (found by the schemathesis runs of tests/integration/test_api_conformance.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

from pydantic import SecretStr
from starlette.types import ASGIApp, Message

from auth_gateway.gateway import Gateway
from auth_gateway.http import create_app as gateway_app
from core.settings import Settings
from trainer.bootstrap import TrainerRuntime
from trainer.http import create_app as trainer_app

KEY = "the-admin-key"


async def _call(
    app: ASGIApp, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, Any], bool]:
    """Status, JSON body, and whether the application asked for the request body at all."""
    asked = False
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal asked
        asked = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("test", 80),
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(content), asked


def _gateway() -> ASGIApp:
    loaded = cast(Gateway, SimpleNamespace(admin_key=SecretStr(KEY), settings=Settings()))
    return gateway_app(lambda: loaded)


def _trainer() -> ASGIApp:
    return trainer_app(cast(TrainerRuntime, SimpleNamespace(admin_key=SecretStr(KEY))))


MULTIPART = {"content-type": "multipart/form-data; boundary=x"}
JSON = {"content-type": "application/json"}


async def test_a_wrong_admin_key_is_refused_before_an_upload_is_read() -> None:
    for path in ("/enroll", "/api/import_model"):
        headers = {**MULTIPART, "X-API-Key": "not-it"}
        status, body, asked = await _call(_gateway(), "POST", path, headers, b"--x\r\n garbage")
        # Before: the multipart body was parsed first, and its garbage answered 400.
        assert (status, body["error"], asked) == (401, "unauthorized", False), path


async def test_a_terminal_key_is_no_admin_key() -> None:
    headers = {"X-API-Key": "a-terminal-key", "X-Terminal-Key": KEY}
    status, body, asked = await _call(_gateway(), "DELETE", "/users/someone", headers, b"")
    assert (status, body["error"], asked) == (401, "unauthorized", False)


async def test_an_anonymous_login_attempt_is_refused_before_its_upload_is_read() -> None:
    status, body, asked = await _call(_gateway(), "POST", "/verify", MULTIPART, b"--x\r\n")
    assert (status, body["error"], asked) == (401, "unauthorized_terminal", False)


async def test_a_retrain_request_without_the_key_is_refused_before_its_body_is_read() -> None:
    for headers in (JSON, {**JSON, "X-API-Key": "not-it"}):
        status, body, asked = await _call(
            _trainer(), "POST", "/api/retrain_request", headers, b"\xff\xfe{"
        )
        # Before: the body was parsed first, and a malformed one answered 400.
        assert (status, body["error"], asked) == (401, "unauthorized", False), headers


async def test_the_right_key_reaches_the_route_and_its_documented_answers() -> None:
    headers = {**JSON, "X-API-Key": KEY}
    status, body, asked = await _call(
        _trainer(), "POST", "/api/retrain_request", headers, b"\xff\xfe{"
    )
    assert (status, body["error"], asked) == (400, "http_error", True)
    document = trainer_app(cast(TrainerRuntime, None)).openapi()
    responses = document["paths"]["/api/retrain_request"]["post"]["responses"]
    assert {"400", "401", "413", "422"} <= set(responses)
    oversized = {**JSON, "X-API-Key": KEY}
    status, body, _ = await _call(
        _trainer(), "POST", "/api/retrain_request", oversized, b"{" + b" " * 20_000 + b"}"
    )
    assert (status, body["error"]) == (413, "too_large")
