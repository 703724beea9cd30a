"""Audit item 9, on the real stack: ``/verify`` stores media only after the cheap checks."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
from PIL import Image

from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.handlers import handle
from auth_gateway.http import create_app
from core.biometrics.audio import encode_wav
from core.settings import Settings
from schemas import LockoutEvent
from schemas.enums import LockAction
from tests.integration.gateway_kit import running_gateway
from tests.stack_kit import DOOR_OPEN, namespaced, terminal_headers, with_gateway_keys

TERMINAL = "term-st"


@pytest.fixture(scope="module")
async def gateway(base_settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    settings = with_gateway_keys(namespaced(base_settings, "st"), "st-admin-key", **DOOR_OPEN)
    async with running_gateway(settings, analyser, seed=11) as gw:
        yield gw


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(lambda: gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=120) as client:
        yield client


def _media() -> tuple[bytes, bytes]:
    """A photo and a clip no other test sends (noise: the replay check sees new bytes)."""
    rng = np.random.default_rng()
    photo = io.BytesIO()
    pixels = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo, format="PNG")
    clip = encode_wav((rng.standard_normal(16_000) * 0.01).astype(np.float32))
    return photo.getvalue(), clip


def _png_bomb(side: int = 8000) -> bytes:
    """A PNG of a few dozen bytes whose header announces ``side`` x ``side`` pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


async def _challenge(http: httpx.AsyncClient, user: str, terminal: str = TERMINAL) -> str:
    response = await http.post(
        "/challenges",
        json={"user_id": user, "terminal_id": terminal},
        headers=terminal_headers(terminal),
    )
    assert response.status_code == 200, response.text
    challenge_id: str = response.json()["challenge_id"]
    return challenge_id


async def _verify(
    http: httpx.AsyncClient, user: str, challenge_id: str, face: bytes, voice: bytes
) -> httpx.Response:
    return await http.post(
        "/verify",
        data={"user_id": user, "terminal_id": TERMINAL, "challenge_id": challenge_id},
        files={"face": ("f.png", face, "image/png"), "voice": ("v.wav", voice, "audio/wav")},
        headers=terminal_headers(TERMINAL),
    )


async def _stored(gw: Gateway, user: str) -> list[str]:
    return await gw.objects.list_keys(gw.objects.bucket("samples"), f"{user}/")


def _user() -> str:
    return f"st-{uuid.uuid4().hex[:8]}"


async def test_a_normal_attempt_keeps_its_media(gateway: Gateway, http: httpx.AsyncClient) -> None:
    user = _user()
    response = await _verify(http, user, await _challenge(http, user), *_media())
    assert response.status_code == 200, response.text
    attempt_id = response.json()["attempt_id"]
    assert sorted(await _stored(gateway, user)) == [
        f"{user}/{attempt_id}/face",
        f"{user}/{attempt_id}/voice",
    ]


async def test_a_locked_user_attempt_stores_nothing(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    user = _user()
    lock = LockoutEvent(
        producer="tests",
        user_id=user,
        action=LockAction.LOCK,
        reason="consecutive_failures",
        until=datetime.now(UTC) + timedelta(minutes=5),
        requested_by="stream-processors",
    )
    await handle(gateway, lock)
    response = await _verify(http, user, await _challenge(http, user), *_media())
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "reject"
    # Refused as before (the decision is logged), but nothing of the person was kept.
    logged = await gateway.decisions.find(response.json()["attempt_id"])
    assert logged is not None and logged.reasons == ["locked"]
    assert await _stored(gateway, user) == []


@pytest.mark.parametrize("challenge", ["unknown", "another_terminal", "used"])
async def test_an_unusable_challenge_stores_nothing(
    gateway: Gateway, http: httpx.AsyncClient, challenge: str
) -> None:
    user = _user()
    if challenge == "unknown":
        challenge_id = uuid.uuid4().hex
    elif challenge == "another_terminal":
        challenge_id = await _challenge(http, user, terminal="term-other")
    else:
        challenge_id = await _challenge(http, user)
        first = await _verify(http, user, challenge_id, *_media())
        assert first.status_code == 200, first.text
        await gateway.objects.delete_prefix(gateway.objects.bucket("samples"), f"{user}/")
    response = await _verify(http, user, challenge_id, *_media())
    assert response.status_code == 200, response.text
    logged = await gateway.decisions.find(response.json()["attempt_id"])
    assert logged is not None and logged.reasons[0].startswith("challenge_"), logged
    assert await _stored(gateway, user) == []


async def test_media_over_the_decoding_caps_are_refused_unstored(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    user = _user()
    _, voice = _media()
    response = await _verify(http, user, await _challenge(http, user), _png_bomb(), voice)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_media"
    assert "too_many_pixels" in response.json()["message"]
    assert await _stored(gateway, user) == []
