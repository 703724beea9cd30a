"""Audit finding 8: bodies refused before they are read, anonymous admin uploads at the door."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from auth_gateway.http import create_app


async def _chunks(total: int, size: int = 1 << 20) -> AsyncIterator[bytes]:
    """A well-formed start of a multipart file part, then ``total`` bytes of it."""
    yield (
        b'--x\r\nContent-Disposition: form-data; name="face"; filename="f.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
    )
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


async def test_an_oversized_body_is_refused_before_it_is_read() -> None:
    app = create_app(lambda: None)  # limits apply even while the models load
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        declared = await http.post(
            "/verify",
            content=b"",
            headers={"content-length": str(1 << 30), "content-type": "multipart/form-data"},
        )
        assert declared.status_code == 413 and declared.json()["error"] == "too_large"
        # No Content-Length (chunked): counted as it arrives, refused once over the limit. With
        # a terminal key, or the door would refuse it before its first byte.
        streamed = await http.post(
            "/verify",
            content=_chunks(70 << 20),
            headers={"content-type": "multipart/form-data; boundary=x", "X-Terminal-Key": "k"},
        )
        assert streamed.status_code == 413, streamed.text


async def test_an_admin_upload_without_a_key_is_refused_at_the_door() -> None:
    app = create_app(lambda: None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        response = await http.post("/enroll", files={"faces": ("f.jpg", b"\xff\xd8\xff" * 100)})
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
