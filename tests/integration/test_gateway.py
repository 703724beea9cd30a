"""The gateway on the real stack with real faces and voices (issue: KibaLock auth gateway)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from auth_gateway.analysis import Analyser
from auth_gateway.crypto import TemplateCipher, TemplateTampered
from auth_gateway.gateway import Gateway
from auth_gateway.handlers import consumer_of, handle, verify_attempt
from auth_gateway.http import create_app
from core.biometrics.audio import join_clips
from core.bus import ConsumerLoop
from core.settings import Settings
from producers.people import Person, chimeric_people
from schemas import (
    AuthAttempt,
    AuthDecision,
    AuthFeedback,
    LockoutEvent,
    TrainingSampleCaptured,
    decode,
)
from schemas.enums import FeedbackLabel, FeedbackSource, Language, LockAction, Outcome
from tests.integration.conftest import namespaced, terminal_headers, with_gateway_keys
from tests.integration.gateway_kit import attempt, enrol_uploads, people, running_gateway
from tests.integration.kafka_reader import read_topic
from tests.stack_kit import DOOR_OPEN

API_KEY = "test-admin-key"


@pytest.fixture(scope="module")
def gw_settings(base_settings: Settings) -> Settings:
    # Every accepted attempt qualifies, so capture is exercised on real data.
    return with_gateway_keys(
        namespaced(base_settings, "g"), API_KEY, training_quality_threshold=0.0, **DOOR_OPEN
    )


@pytest.fixture(scope="module")
async def gateway(gw_settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    async with running_gateway(gw_settings, analyser) as gw:
        yield gw


@pytest.fixture(scope="module")
async def users(gateway: Gateway, data_dir: Path) -> list[Person]:
    crowd = people(data_dir)
    for person in crowd:
        faces, voices = enrol_uploads(person)
        result = await gateway.enroller.enroll(person.user_id, faces, voices)
        assert result.face_samples == 3 and result.voice_samples == 3, result
    return crowd


async def _genuine(gw: Gateway, person: Person, k: int = 0) -> tuple[str, bytes, bytes]:
    challenge = await gw.challenges.issue(person.user_id, "term-1")
    return challenge.challenge_id, person.probe_photo(k), person.say(challenge.digits)


async def _login(gw: Gateway, person: Person, k: int) -> tuple[AuthAttempt, AuthDecision]:
    """A genuine login as a person does it: asked again (new challenge) when misheard.

    The challenge check is ~95 % exact per 3-digit challenge (``kibalock eval``); tests whose
    subject is not the speech check must not depend on that error rate.
    """
    for _ in range(3):
        challenge_id, face, voice = await _genuine(gw, person, k)
        event = await attempt(gw, person.user_id, face=face, voice=voice, challenge_id=challenge_id)
        decision = (await verify_attempt(gw, event)).decision
        if decision.reasons != ["challenge_mismatch"]:
            break
    return event, decision


async def test_genuine_attempts_are_accepted_with_full_decisions(
    gateway: Gateway, users: list[Person]
) -> None:
    for k, person in enumerate(users):
        challenge_id, face, voice = await _genuine(gateway, person, k)
        event = await attempt(
            gateway, person.user_id, face=face, voice=voice, challenge_id=challenge_id
        )
        handled = await verify_attempt(gateway, event)
        decision = handled.decision
        assert decision.outcome is Outcome.ACCEPT, decision.model_dump()
        assert decision.face_score and decision.voice_score and decision.fused_score is not None
        assert decision.face_score.calibrated is not None and decision.face_score.calibrated > 0.5
        assert "fused_accept" in decision.thresholds
        assert set(decision.model_versions) >= {
            "face-embedder",
            "voice-embedder",
            "speech-recogniser",
        }
        assert decision.challenge is not None and decision.challenge.passed
        assert decision.challenge.language is Language.EN  # a terminal that declares none
        assert handled.session is not None and handled.session.session_id is not None
        assert await gateway.sessions.valid(handled.session.session_id) is not None


@pytest.mark.parametrize("swap", ["face", "voice", "both"])
async def test_impostors_are_rejected(gateway: Gateway, users: list[Person], swap: str) -> None:
    victim, impostor = users[0], users[1]
    challenge = await gateway.challenges.issue(victim.user_id, "term-1")
    face = (impostor if swap in {"face", "both"} else victim).probe_photo(1)
    voice = (impostor if swap in {"voice", "both"} else victim).say(challenge.digits)
    event = await attempt(
        gateway, victim.user_id, face=face, voice=voice, challenge_id=challenge.challenge_id
    )
    decision = (await verify_attempt(gateway, event)).decision
    assert decision.outcome is Outcome.REJECT, decision.model_dump()
    expected = {
        "face": {"face_mismatch"},
        "voice": {"voice_mismatch"},
        "both": {"face_mismatch", "voice_mismatch"},
    }[swap]
    assert expected <= set(decision.reasons), decision.reasons
    assert decision.face_score is not None and decision.voice_score is not None
    assert decision.model_versions


async def test_replay_wrong_digits_expired_and_reused_challenges(
    gateway: Gateway, users: list[Person]
) -> None:
    person = users[2]
    first, decision = await _login(gateway, person, 0)
    assert decision.outcome is Outcome.ACCEPT, decision.reasons
    assert first.voice is not None and first.challenge_id is not None
    voice = await gateway.objects.get_bytes(first.voice)
    challenge_id = first.challenge_id

    # Replay: the byte-identical voice of the first attempt, with a fresh challenge.
    fresh = await gateway.challenges.issue(person.user_id, "term-1")
    replayed = await attempt(
        gateway,
        person.user_id,
        face=person.probe_photo(1),
        voice=voice,
        challenge_id=fresh.challenge_id,
    )
    assert (await verify_attempt(gateway, replayed)).decision.reasons == ["replay"]

    # Reused challenge: the first attempt's challenge, new recordings.
    reused = await attempt(
        gateway,
        person.user_id,
        face=person.probe_photo(2),
        voice=person.say("123"),
        challenge_id=challenge_id,
    )
    assert (await verify_attempt(gateway, reused)).decision.reasons == ["challenge_reused"]

    # Wrong digits: the person says something else than the challenge.
    challenge = await gateway.challenges.issue(person.user_id, "term-1")
    wrong = "".join(str((int(d) + 5) % 10) for d in challenge.digits)
    mismatch = await attempt(
        gateway,
        person.user_id,
        face=person.probe_photo(3),
        voice=person.say(wrong),
        challenge_id=challenge.challenge_id,
    )
    decision = (await verify_attempt(gateway, mismatch)).decision
    assert decision.outcome is Outcome.REJECT and decision.reasons == ["challenge_mismatch"]
    assert decision.challenge is not None and decision.challenge.expected == challenge.digits

    # Expired: the challenge's expiry is in the past.
    late = await gateway.challenges.issue(person.user_id, "term-1")
    await gateway.db["challenges"].update_one(
        {"challenge_id": late.challenge_id},
        {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    expired = await attempt(
        gateway,
        person.user_id,
        face=person.probe_photo(4),
        voice=person.say(late.digits),
        challenge_id=late.challenge_id,
    )
    assert (await verify_attempt(gateway, expired)).decision.reasons == ["challenge_expired"]


@pytest.mark.parametrize(
    ("face", "voice", "reason"),
    [
        (b"\xff\xd8\xff\xe0 truncated jpeg", None, "invalid_media"),
        (b"", None, "invalid_media"),
        (None, b"RIFF\x00\x00 not really a wav", "invalid_media"),
        (None, b"", "invalid_media"),
    ],
)
async def test_corrupt_media_yield_a_decision_with_a_reason(
    gateway: Gateway, users: list[Person], face: bytes | None, voice: bytes | None, reason: str
) -> None:
    person = users[0]
    challenge_id, good_face, good_voice = await _genuine(gateway, person, 2)
    event = await attempt(
        gateway,
        person.user_id,
        face=good_face if face is None else face,
        voice=good_voice if voice is None else voice,
        challenge_id=challenge_id,
    )
    decision = (await verify_attempt(gateway, event)).decision
    assert decision.outcome is Outcome.REJECT and reason in decision.reasons, decision.reasons


async def test_missing_object_and_checksum_mismatch(gateway: Gateway, users: list[Person]) -> None:
    person = users[1]
    challenge_id, face, voice = await _genuine(gateway, person, 0)
    event = await attempt(
        gateway, person.user_id, face=face, voice=voice, challenge_id=challenge_id
    )
    assert event.face is not None and event.voice is not None
    await gateway.objects.delete(event.face.bucket, event.face.key)
    assert (await verify_attempt(gateway, event)).decision.reasons == ["missing_object"]

    challenge_id, face, voice = await _genuine(gateway, person, 1)
    event = await attempt(
        gateway, person.user_id, face=face, voice=voice, challenge_id=challenge_id
    )
    assert event.voice is not None
    tampered = event.model_copy(
        update={"voice": event.voice.model_copy(update={"sha256": "ab" * 32})}
    )
    assert (await verify_attempt(gateway, tampered)).decision.reasons == ["checksum_mismatch"]

    # The service carries on: the next genuine attempt is decided normally.
    _, decision = await _login(gateway, person, 2)
    assert decision.outcome is Outcome.ACCEPT, decision.reasons


async def test_kafka_path_dead_letters_malformed_and_decides_redelivery_once(
    gateway: Gateway, users: list[Person], gw_settings: Settings
) -> None:
    person = users[0]
    challenge_id, face, voice = await _genuine(gateway, person, 3)
    event = await attempt(
        gateway, person.user_id, face=face, voice=voice, challenge_id=challenge_id
    )
    producer = gateway.producer
    await producer.publish_raw("auth.attempts", b'{"type": "auth.attempt", "version": 1', key=b"x")
    await producer.publish(event)
    await producer.publish(event)  # redelivery: the same attempt twice

    loop = ConsumerLoop(
        ["auth.attempts"],
        f"gw-{uuid.uuid4()}",
        consumer_of(gateway),
        producer,
        settings=gw_settings,
    )
    task = asyncio.create_task(loop.run())
    try:
        for _ in range(600):
            if loop.handled >= 2 and loop.dead_lettered >= 1:
                break
            await asyncio.sleep(0.1)
    finally:
        loop.stop()
        await task
    assert loop.dead_lettered == 1 and loop.handled == 2
    assert await gateway.db["attempts"].count_documents({"attempt_id": event.attempt_id}) == 1
    decisions = [
        decode("auth.decisions", r.value)
        for r in await read_topic(gw_settings, "auth.decisions", at_least=1)
    ]
    mine = {d.event_id for d in decisions if d.attempt_id == event.attempt_id}  # type: ignore[attr-defined]
    assert len(mine) == 1, (
        "a redelivered attempt re-publishes the same decision, never a second one"
    )
    letters = [
        decode("deadletter", r.value)
        for r in await read_topic(gw_settings, "deadletter", at_least=1)
    ]
    assert any(letter.error_reason == "malformed" for letter in letters)  # type: ignore[attr-defined]


async def test_a_lockout_makes_the_next_genuine_attempt_fail(
    gateway: Gateway, users: list[Person]
) -> None:
    person = users[1]
    lock = LockoutEvent(
        producer="tests",
        user_id=person.user_id,
        action=LockAction.LOCK,
        reason="consecutive_failures",
        until=datetime.now(UTC) + timedelta(minutes=5),
        failures=5,
        requested_by="stream-processors",
    )
    await handle(gateway, lock)
    challenge_id, face, voice = await _genuine(gateway, person, 1)
    event = await attempt(
        gateway, person.user_id, face=face, voice=voice, challenge_id=challenge_id
    )
    assert (await verify_attempt(gateway, event)).decision.reasons == ["locked"]

    unlock = lock.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "action": LockAction.UNLOCK,
            "until": None,
            "reason": "admin",
        }
    )
    await handle(gateway, unlock)
    _, decision = await _login(gateway, person, 2)
    assert decision.outcome is Outcome.ACCEPT, decision.reasons


async def test_training_samples_from_accepts_and_from_feedback(
    gateway: Gateway, users: list[Person], gw_settings: Settings
) -> None:
    person = users[2]
    accepted, decision = await _login(gateway, person, 5)
    assert decision.outcome is Outcome.ACCEPT, decision.reasons
    assert await gateway.db["training_samples"].find_one({"sample_id": accepted.attempt_id})

    # Rejected (wrong digits said), then confirmed genuine by a fallback factor.
    challenge = await gateway.challenges.issue(person.user_id, "term-2")
    rejected = await attempt(
        gateway,
        person.user_id,
        face=person.probe_photo(0),
        voice=person.say("909"),
        challenge_id=challenge.challenge_id,
        terminal="term-2",
    )
    refused = (await verify_attempt(gateway, rejected)).decision
    assert refused.reasons == ["challenge_mismatch"], refused.reasons
    assert await gateway.db["training_samples"].find_one({"sample_id": rejected.attempt_id}) is None
    feedback = AuthFeedback(
        producer="tests",
        attempt_id=rejected.attempt_id,
        user_id=person.user_id,
        terminal_id="term-2",
        label=FeedbackLabel.GENUINE,
        source=FeedbackSource.FALLBACK_FACTOR,
    )
    await handle(gateway, feedback)
    doc = await gateway.db["training_samples"].find_one({"sample_id": rejected.attempt_id})
    assert doc is not None and doc["origin"] == "feedback" and doc["terminal_id"] == "term-2"
    keys = await gateway.objects.list_keys(
        gateway.objects.bucket("training"), f"{person.user_id}/{rejected.attempt_id}/"
    )
    assert len(keys) == 2
    events = [
        decode("training.samples", r.value)
        for r in await read_topic(gw_settings, "training.samples", at_least=2)
    ]
    origins = {
        e.origin.value
        for e in events
        if isinstance(e, TrainingSampleCaptured) and e.user_id == person.user_id
    }
    assert origins >= {"accepted", "feedback"}


async def test_templates_are_not_readable_without_the_key(
    gateway: Gateway, users: list[Person]
) -> None:
    person = users[0]
    doc = await gateway.db["templates"].find_one({"user_id": person.user_id, "modality": "face"})
    assert doc is not None
    sealed = bytes(doc["sealed"])
    version = doc["model_version"]
    plain = await gateway.templates.load(person.user_id, "face", version)
    assert plain is not None and plain.shape[0] == 3
    # The stored bytes, read as floats at every alignment, are noise: no enrolment value in them.
    for shift in range(4):
        chunk = sealed[shift:]
        as_floats = np.frombuffer(chunk[: len(chunk) // 4 * 4], dtype="<f4")
        assert not np.isin(plain[0], as_floats).any()
    assert set(doc) - {"_id"} == {
        "user_id",
        "modality",
        "model_version",
        "sealed",
        "samples",
        "key_id",
        "generation",
        "updated_at",
    }
    with pytest.raises(TemplateTampered):
        TemplateCipher(os.urandom(32)).open(
            sealed,
            user_id=person.user_id,
            modality="face",
            version=version,
            generation=doc["generation"],
        )
    with pytest.raises(TemplateTampered):
        gateway.templates._cipher.open(
            sealed,
            user_id=users[1].user_id,
            modality="face",
            version=version,
            generation=doc["generation"],
        )


async def test_admin_endpoints_need_the_key_and_imports_refuse_paths(gateway: Gateway) -> None:
    app = create_app(lambda: gateway)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        for headers in ({}, {"X-API-Key": "wrong"}):
            response = await http.delete("/users/someone", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"] == "unauthorized"
            response = await http.get(
                "/api/model_performance", params={"model_name": "face-embedder"}, headers=headers
            )
            assert response.status_code == 401

        onnx_bytes = _tiny_onnx()
        ok = {"X-API-Key": API_KEY}
        response = await http.post(
            "/api/import_model",
            headers=ok,
            data={"name": "face-embedder", "version": "9.9.9"},
            files={"model_file": ("../../x.onnx", onnx_bytes, "application/octet-stream")},
        )
        assert response.status_code == 422 and response.json()["error"] == "invalid_filename"
        # Fields are checked against the published document's types, so every field error is
        # `invalid_request` naming the field (it was `invalid_model_name`, `invalid_identifier`…).
        response = await http.post(
            "/api/import_model",
            headers=ok,
            data={"name": "../../x", "version": "9.9.9"},
            files={"model_file": ("x.onnx", onnx_bytes, "application/octet-stream")},
        )
        assert response.status_code == 422 and response.json()["error"] == "invalid_request"
        assert response.json()["message"].startswith("body.name:")
        response = await http.post(
            "/api/import_model",
            headers=ok,
            data={"name": "face-embedder", "version": "9.9.9"},
            files={"model_file": ("x.onnx", b"not onnx", "application/octet-stream")},
        )
        assert response.status_code == 422 and response.json()["error"] == "invalid_model"
        response = await http.post(
            "/api/import_model",
            headers=ok,
            data={"name": "face-embedder", "version": "9.9.9"},
            files={"model_file": ("x.onnx", onnx_bytes, "application/octet-stream")},
        )
        assert response.status_code == 200, response.text
        # A gateway never signs: the file waits, unsigned, outside what gateways load.
        imported = response.json()
        assert imported["state"] == "unsigned_candidate"
        assert imported["artifact"]["uri"].endswith("/candidates/face-embedder/9.9.9/model.onnx")
        assert await gateway.swapper.registry.get("face-embedder", "9.9.9") is None
        again = await http.post(
            "/api/import_model",
            headers=ok,
            data={"name": "face-embedder", "version": "9.9.9"},
            files={"model_file": ("x.onnx", onnx_bytes, "application/octet-stream")},
        )
        assert again.status_code == 409 and again.json()["error"] == "version_exists"

        response = await http.post(
            "/challenges",
            json={"user_id": "a b", "terminal_id": "t"},
            headers=terminal_headers("t"),
        )
        assert response.status_code == 422 and "message" in response.json()
        # A terminal without its key, or with another terminal's, learns nothing and stores nothing.
        for headers in ({}, terminal_headers("t2")):
            response = await http.post(
                "/challenges", json={"user_id": "u", "terminal_id": "t"}, headers=headers
            )
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "unauthorized_terminal"
            response = await http.post(
                "/verify",
                data={"user_id": "u", "terminal_id": "t"},
                files={"face": ("f.jpg", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg")},
                headers=headers,
            )
            assert response.status_code == 401 and "message" in response.json()
        assert not await gateway.objects.list_keys(gateway.objects.bucket("samples"), "u/")
        response = await http.post(
            "/verify",
            data={"user_id": "u", "terminal_id": "t"},
            files={"face": ("f.jpg", b"GIF89a", "image/gif")},
            headers=terminal_headers("t"),
        )
        assert response.status_code == 415 and response.json()["error"] == "unsupported_media"
        # An id the schema refuses is refused before any media is stored.
        response = await http.post(
            "/verify",
            data={"user_id": ".x", "terminal_id": "t"},
            files={"face": ("f.jpg", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg")},
            headers=terminal_headers("t"),
        )
        assert response.status_code == 422 and response.json()["error"] == "invalid_request"
        samples = gateway.objects.bucket("samples")
        assert not await gateway.objects.list_keys(samples, ".x/")
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
        assert "kibalock_decisions_total" in (await http.get("/metrics")).text


async def test_a_terminal_declares_the_challenge_language(gateway: Gateway, data_dir: Path) -> None:
    user = f"lang-{uuid.uuid4().hex[:8]}"  # a user of its own: a failed check counts to lockout
    app = create_app(lambda: gateway)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=120
    ) as http:
        body = {"user_id": user, "terminal_id": "term-az"}
        key = terminal_headers("term-az")
        refused = await http.post("/challenges", json={**body, "language": "de"}, headers=key)
        assert refused.status_code == 422, refused.text
        issued = (
            await http.post("/challenges", json={**body, "language": "az"}, headers=key)
        ).json()
    # Unique bytes (an odd pause): the gateway refuses byte-identical media as a replay.
    clips = [(data_dir / "voices" / f"{d}_george_9.wav").read_bytes() for d in issued["digits"]]
    event = await attempt(
        gateway,
        user,
        face=None,
        voice=join_clips(clips, silence_ms=437),
        challenge_id=issued["challenge_id"],
        terminal="term-az",
    )
    decision = (await verify_attempt(gateway, event)).decision
    assert decision.challenge is not None, decision.model_dump()
    assert decision.challenge.language is Language.AZ
    assert decision.challenge.expected == issued["digits"]


async def test_rest_enrol_verify_and_erasure_leave_nothing(
    gateway: Gateway, data_dir: Path
) -> None:
    # A fourth person, whose recordings no other test has sent (they would be replays).
    person = chimeric_people(data_dir, 4, tag=uuid.uuid4().hex[:6])[3]
    app = create_app(lambda: gateway)
    ok = {"X-API-Key": API_KEY}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=120
    ) as http:
        files = [
            ("faces", (f"f{i}.jpg", d, "image/jpeg")) for i, d in enumerate(person.enrol_photos())
        ]
        files += [
            ("voices", (f"v{i}.wav", d, "audio/wav"))
            for i, d in enumerate(person.enrol_utterances())
        ]
        response = await http.post(
            "/enroll", headers=ok, data={"user_id": person.user_id}, files=files
        )
        assert response.status_code == 200, response.text

        key = terminal_headers("t9")
        challenge = (
            await http.post(
                "/challenges", json={"user_id": person.user_id, "terminal_id": "t9"}, headers=key
            )
        ).json()
        response = await http.post(
            "/verify",
            data={
                "user_id": person.user_id,
                "terminal_id": "t9",
                "challenge_id": challenge["challenge_id"],
            },
            files={
                "face": ("p.jpg", person.probe_photo(0), "image/jpeg"),
                "voice": ("v.wav", person.say(challenge["digits"]), "audio/wav"),
            },
            headers=key,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        logged = await gateway.decisions.find(body["attempt_id"])
        assert body["outcome"] == "accept", logged
        assert body["next_step"] == "done" and body["session_id"]
        # The terminal hears the outcome only: no scores, thresholds, digits or reasons.
        assert set(body) == {"attempt_id", "outcome", "next_step", "session_id"}
        assert logged is not None and logged.outcome == "accept"

        response = await http.delete(f"/users/{person.user_id}", headers=ok)
        assert response.status_code == 200, response.text

    for name in await gateway.db.list_collection_names():
        assert await gateway.db[name].count_documents({"user_id": person.user_id}) == 0, name
    for bucket in ("samples", "training"):
        keys = await gateway.objects.list_keys(gateway.objects.bucket(bucket))
        assert not [k for k in keys if person.user_id in k], bucket
    audit = await gateway.db["audit"].find_one({"action": "erase_user"})
    assert audit is not None and person.user_id not in json.dumps(audit, default=str)
    # Not a plain hash a dictionary of likely ids could reverse: a keyed one.
    plain = hashlib.sha256(person.user_id.encode()).hexdigest()
    assert audit["user_pseudonym"] == gateway.templates.pseudonym(person.user_id) != plain


def _tiny_onnx() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
    )
    buffer = io.BytesIO()
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), buffer)
    return buffer.getvalue()
