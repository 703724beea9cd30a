"""Audit finding 7, on the real stack: replays whose bytes differ from the capture they copy."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import soundfile as sf
from PIL import Image

from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.handlers import verify_attempt
from core.biometrics.audio import SAMPLE_RATE, decode_audio
from core.objectstore import sha256_hex
from core.settings import Settings
from producers.people import Person
from schemas import AuthDecision
from schemas.enums import Outcome
from tests.integration.gateway_kit import attempt, enrol_uploads, people, running_gateway
from tests.stack_kit import namespaced, with_gateway_keys

# What a genuine attempt may fail for here besides a replay: the capture or the small data set.
NOT_A_REPLAY_VERDICT = {"challenge_mismatch", "low_quality", "voice_mismatch"}


@pytest.fixture(scope="module")
async def gateway(base_settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    settings = with_gateway_keys(namespaced(base_settings, "rp"), "rp-admin-key")
    async with running_gateway(settings, analyser, seed=11) as gw:
        yield gw


@pytest.fixture(scope="module")
async def person(gateway: Gateway, data_dir: Path) -> Person:
    chosen = people(data_dir)[0]
    await gateway.enroller.enroll(chosen.user_id, *enrol_uploads(chosen))
    return chosen


def _reencoded_photo(data: bytes) -> bytes:
    """The photo scaled to 80 % and saved again at JPEG quality 75: other bytes, same capture."""
    with Image.open(io.BytesIO(data)) as image:
        w, h = image.size
        buffer = io.BytesIO()
        image.convert("RGB").resize((w * 4 // 5, h * 4 // 5)).save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


def _reencoded_recording(data: bytes) -> bytes:
    """The recording re-encoded as FLAC: other bytes, same samples. (Shifting it in time moves
    the voice embedding further than the echo check reaches: bench/pad.py measures that.)"""
    buffer = io.BytesIO()
    sf.write(buffer, decode_audio(data), SAMPLE_RATE, format="FLAC")
    return buffer.getvalue()


async def _login(
    gw: Gateway, person: Person, *, face: bytes | None, voice: bytes | None = None
) -> tuple[AuthDecision, bytes]:
    """A login with ``face`` and ``voice`` (a new recording of the challenge if None)."""
    challenge = await gw.challenges.issue(person.user_id, "term-rp")
    said = voice if voice is not None else person.say(challenge.digits)
    event = await attempt(
        gw,
        person.user_id,
        face=face,
        voice=said,
        challenge_id=challenge.challenge_id,
        terminal="term-rp",
    )
    return (await verify_attempt(gw, event)).decision, said


async def _genuine_accept(gw: Gateway, person: Person, k: int) -> tuple[bytes, bytes]:
    """The face and voice of an accepted genuine login with probe photo ``k``."""
    face = person.probe_photo(k)
    decision, voice = await _login(gw, person, face=face)
    assert decision.outcome is Outcome.ACCEPT, decision.reasons
    return face, voice


async def test_a_reencoded_replay_of_an_accepted_face_is_refused(
    gateway: Gateway, person: Person
) -> None:
    face, _ = await _genuine_accept(gateway, person, 0)
    replayed, _ = await _login(gateway, person, face=_reencoded_photo(face))
    assert replayed.outcome is Outcome.REJECT and replayed.reasons == ["replay"]


async def test_a_reencoded_replay_of_an_accepted_voice_is_refused(
    gateway: Gateway, person: Person
) -> None:
    _, voice = await _genuine_accept(gateway, person, 1)
    # Voice only: the face cannot be what refuses it (the echo check comes before fusion).
    replayed, _ = await _login(gateway, person, face=None, voice=_reencoded_recording(voice))
    assert replayed.outcome is Outcome.REJECT and replayed.reasons == ["replay"]


async def test_an_enrolment_photo_is_no_probe_whatever_its_bytes(
    gateway: Gateway, person: Person
) -> None:
    enrolled = person.enrol_photos()[0]
    # Refused by its sha256 alone, before any analysis: the enrolment registered it.
    seen = await gateway.db["media_seen"].find_one({"sha256": sha256_hex(enrolled)})
    assert seen is not None and seen["attempt_id"] is None and seen["user_id"] == person.user_id
    identical, _ = await _login(gateway, person, face=enrolled)
    assert identical.reasons == ["replay"]
    reencoded, _ = await _login(gateway, person, face=_reencoded_photo(person.enrol_photos()[1]))
    assert reencoded.reasons == ["replay"]


async def test_a_new_genuine_capture_is_still_accepted(gateway: Gateway, person: Person) -> None:
    # Another photo of the person, never seen by the gateway: not a replay of the ones above.
    decision, _ = await _login(gateway, person, face=person.probe_photo(2))
    assert "replay" not in decision.reasons
    assert decision.outcome is Outcome.ACCEPT or set(decision.reasons) <= NOT_A_REPLAY_VERDICT


async def test_recent_probes_are_sealed_and_erased_with_the_user(
    gateway: Gateway, person: Person
) -> None:
    stored = await gateway.db["recent_probes"].find_one({"user_id": person.user_id})
    assert stored is not None and set(stored) >= {"sealed", "user_id"}
    assert "embedding" not in stored and "vectors" not in stored
    face = await gateway.recent.load(person.user_id, "face")
    assert face is not None and face.shape[1] == 128 and face.shape[0] >= 1
    await gateway.erase_user(person.user_id)
    assert await gateway.db["recent_probes"].count_documents({"user_id": person.user_id}) == 0
