"""Audit item 9, on the real stack: ``/verify`` stores media only after the cheap checks, and
what terminals upload is erased after the retention period."""

from __future__ import annotations

import asyncio
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

from auth_gateway import samples_retention
from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.handlers import handle
from auth_gateway.http import create_app
from core.biometrics.audio import encode_wav
from core.settings import Settings
from schemas import LockoutEvent
from schemas.enums import LockAction
from schemas.keys import attempt_media_key, enrolment_media_key
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


async def test_uploads_past_retention_are_erased_but_enrolment_in_use_is_kept(
    gateway: Gateway,
) -> None:
    user, store = _user(), gateway.objects
    samples = store.bucket("samples")
    await store.put_bytes(samples, attempt_media_key(user, "a-old", "face"), b"1", "image/png")
    enrolled = await store.put_bytes(samples, enrolment_media_key(user, "voice", 0), b"2")
    # Left behind by an enrolment that failed half-way: no record names it.
    await store.put_bytes(samples, enrolment_media_key(user, "voice", 1), b"3")
    await gateway.db["users"].update_one(
        {"user_id": user},
        {"$set": {"enrol_samples": [{"modality": "voice", "ref": enrolled.model_dump()}]}},
        upsert=True,
    )
    await asyncio.sleep(1.5)  # the object store dates objects to the second
    boundary = datetime.now(UTC)
    await asyncio.sleep(1.5)
    young = await store.put_bytes(samples, attempt_media_key(user, "a-new", "voice"), b"4")
    options = gateway.settings.gateway

    # Nothing is old yet.
    report = await samples_retention.sweep(gateway.db, store, options)
    assert len(await _stored(gateway, user)) == 4 and report.erased == 0

    later = boundary + timedelta(days=options.attempt_media_retention_days)
    report = await samples_retention.sweep(gateway.db, store, options, later)
    # The old upload and the orphan went; the enrolment in use and the young upload stayed.
    assert sorted(await _stored(gateway, user)) == sorted([enrolled.key, young.key])
    assert report.erased >= 2 and report.kept_enrolment >= 1

    # The gateway's timer: an upload that ages is erased by a later tick, and stop ends it.
    timed = options.model_copy(
        update={"attempt_media_retention_days": 1 / 86_400, "retention_sweep_interval_s": 0.2}
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(samples_retention.sweep_periodically(gateway.db, store, timed, stop))
    for _ in range(100):
        if await _stored(gateway, user) == [enrolled.key]:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(loop, timeout=5)
    assert await _stored(gateway, user) == [enrolled.key]
