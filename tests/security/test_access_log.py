"""Audit finding 13: access logs name the route, not the user id in the path."""

from __future__ import annotations

import httpx
import structlog

from auth_gateway.http import create_app


async def test_a_user_id_in_a_path_never_reaches_the_access_log() -> None:
    app = create_app(lambda: None)
    with structlog.testing.capture_logs() as logs:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            await http.delete("/users/alice-smith", headers={"X-API-Key": "k"})
    requests = [entry for entry in logs if entry.get("event") == "request"]
    assert requests, "the request was logged"
    assert requests[0]["route"] == "/users/{user_id}"
    assert "alice-smith" not in repr(logs)


async def test_routes_without_parameters_log_as_they_are() -> None:
    app = create_app(lambda: None)
    with structlog.testing.capture_logs() as logs:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            await http.get("/healthz")
    assert [e["route"] for e in logs if e.get("event") == "request"] == ["/healthz"]
