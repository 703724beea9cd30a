"""Kafka (de)serialisation: round trips, keys, headers, every DecodeError reason, dead letters."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from typing import Any, cast

import pytest

from schemas import (
    DECODE_REASONS,
    HEADER_EVENT_ID,
    HEADER_PRODUCER,
    HEADER_TYPE,
    HEADER_VERSION,
    TOPICS,
    AuthAttempt,
    DeadLetter,
    DecodeError,
    Event,
    RetrainTrigger,
    dead_letter_for,
    decode,
    encode,
)
from schemas.catalog import EVENT_CLASSES
from schemas.codec import DEAD_LETTER_MAX_BYTES, DEAD_LETTER_MAX_HEADERS
from schemas.examples import example_events

EXAMPLES = example_events()
IDS = [type(e).__name__ for e in EXAMPLES]


def attempt() -> AuthAttempt:
    return next(e for e in example_events() if isinstance(e, AuthAttempt))


def attempt_body(**changes: object) -> bytes:
    body = json.loads(encode(attempt()).value) | changes
    return json.dumps(body).encode()


@pytest.mark.parametrize("event", EXAMPLES, ids=IDS)
def test_every_event_round_trips(event: Event) -> None:
    encoded = encode(event)
    decoded = decode(encoded.topic, encoded.value, encoded.headers)
    assert decoded == event
    assert type(decoded) is type(event)
    # Headers are optional on the way in: the body alone is enough.
    assert decode(encoded.topic, encoded.value) == event


@pytest.mark.parametrize("event", EXAMPLES, ids=IDS)
def test_key_and_topic_follow_the_catalog(event: Event) -> None:
    encoded = encode(event)
    spec = TOPICS[encoded.topic]
    assert type(event) in spec.event_types
    expected = getattr(event, spec.key_field)
    if isinstance(event, RetrainTrigger):
        expected = event.models[0]  # keyed by the primary model
    assert encoded.key == str(expected).encode()
    assert event.key() == str(expected)


@pytest.mark.parametrize("event", EXAMPLES, ids=IDS)
def test_value_is_compact_utf8_json_of_the_whole_event(event: Event) -> None:
    value = encode(event).value
    body = json.loads(value.decode("utf-8"))
    assert body == json.loads(event.model_dump_json())
    assert b'", "' not in value and b'": ' not in value  # compact separators
    assert {"event_id", "type", "version", "occurred_at", "producer"} <= body.keys()


def test_headers_repeat_the_envelope() -> None:
    event = attempt()
    headers = dict(encode(event).headers)
    assert headers == {
        HEADER_TYPE: b"auth.attempt",
        HEADER_VERSION: b"1",
        HEADER_EVENT_ID: str(event.event_id).encode(),
        HEADER_PRODUCER: event.producer.encode(),
    }
    assert all(name.startswith("kl-") for name in headers)


def test_an_unregistered_class_cannot_be_encoded() -> None:
    class Rogue(AuthAttempt):
        pass

    rogue = Rogue.model_validate(attempt().model_dump())
    with pytest.raises(ValueError, match="not the registered class"):
        encode(rogue)


def test_unicode_survives_the_round_trip() -> None:
    feedback = next(e for e in EXAMPLES if e.type == "auth.feedback")
    event = type(feedback).model_validate(feedback.model_dump() | {"note": "badge vérifié ✓"})
    encoded = encode(event)
    assert "vérifié ✓".encode() in encoded.value
    assert decode(encoded.topic, encoded.value) == event


# --- DecodeError reasons ----------------------------------------------------------------------


def reason_of(
    topic: str, value: bytes | None, headers: list[tuple[str, bytes]] | None = None
) -> str:
    with pytest.raises(DecodeError) as info:
        decode(topic, value, headers)
    assert str(info.value).startswith(info.value.reason + ": ")
    assert info.value.message
    return info.value.reason


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"\xff\xfe{}",
        '{"type": "auth.attempt"}'.encode("utf-16"),
        b"{not json",
        b"[1, 2]",
        b'"auth.attempt"',
        b"null",
        b"42",
        b"{}",
        b'{"type": 1, "version": 1}',
        b'{"type": "auth.attempt"}',
        b'{"type": "auth.attempt", "version": "1"}',
        b'{"type": "auth.attempt", "version": true}',
        b'{"type": "auth.attempt", "version": 1, "type": "auth.decision"}',
        b'{"type": "auth.attempt", "version": 1, "x": NaN}',
    ],
)
def test_malformed(value: bytes | None) -> None:
    assert reason_of("auth.attempts", value) == "malformed"


def test_unknown_type() -> None:
    assert reason_of("auth.attempts", attempt_body(type="auth.telepathy")) == "unknown_type"


def test_unknown_version() -> None:
    assert reason_of("auth.attempts", attempt_body(version=2)) == "unknown_version"


@pytest.mark.parametrize("topic", ["auth.decisions", "deadletter", "no.such.topic"])
def test_wrong_topic(topic: str) -> None:
    assert reason_of(topic, encode(attempt()).value) == "wrong_topic"


@pytest.mark.parametrize(
    "changes",
    [
        {"user_id": ""},
        {"face": None, "voice": None},
        {"occurred_at": "2025-01-01T12:00:00"},  # naive
        {"event_id": "not-a-uuid"},
        {"surprise": 1},
        {"attempt_id": 42},  # strict JSON: no number for a string
    ],
)
def test_invalid(changes: dict[str, object]) -> None:
    assert reason_of("auth.attempts", attempt_body(**changes)) == "invalid"


def test_invalid_message_names_fields_but_not_values() -> None:
    with pytest.raises(DecodeError) as info:
        decode("auth.attempts", attempt_body(user_id="bad user id"))
    assert "user_id" in info.value.message
    assert "bad user id" not in info.value.message


@pytest.mark.parametrize(
    "header", [(HEADER_TYPE, b"auth.decision"), (HEADER_VERSION, b"2"), (HEADER_VERSION, b"01")]
)
def test_header_mismatch(header: tuple[str, bytes]) -> None:
    encoded = encode(attempt())
    assert reason_of(encoded.topic, encoded.value, [header]) == "header_mismatch"


def test_other_headers_are_ignored() -> None:
    event = attempt()
    encoded = encode(event)
    headers = [*encoded.headers, ("traceparent", b"00-abc-def-01"), ("x-bin", b"\xff")]
    assert decode(encoded.topic, encoded.value, headers) == event


def test_decode_reasons_are_the_documented_set() -> None:
    assert set(DECODE_REASONS) == {
        "malformed",
        "header_mismatch",
        "unknown_type",
        "unknown_version",
        "wrong_topic",
        "invalid",
    }


# --- dead letters -----------------------------------------------------------------------------


def test_dead_letter_keeps_the_record_recoverable() -> None:
    key, value = b"alice", b'\x00\xff{"type": "auth.attempt"'
    headers = [(HEADER_TYPE, b"auth.attempt"), ("x-bin", b"\x00\x01")]
    with pytest.raises(DecodeError) as info:
        decode("auth.attempts", value, headers)
    dead = dead_letter_for("auth.attempts", 2, 1187, key, value, headers, info.value, "gateway")
    assert isinstance(dead, DeadLetter)
    assert (dead.source_topic, dead.partition, dead.offset) == ("auth.attempts", 2, 1187)
    assert dead.error_reason == "malformed"
    assert dead.error_message == info.value.message
    assert dead.consumer_group == dead.producer == "gateway"
    assert dead.original_value_bytes() == value
    assert dead.original_key_bytes() == key
    assert dead.original_headers() == headers
    assert dead.original == base64.b64encode(value).decode()

    encoded = encode(dead)
    assert (encoded.topic, encoded.key) == ("deadletter", b"auth.attempts")
    assert decode("deadletter", encoded.value, encoded.headers) == dead


def test_dead_letter_for_a_tombstone_and_a_processing_error() -> None:
    dead = dead_letter_for(
        "security.lockouts", 0, 5, None, None, None, RuntimeError("db down"), "gw", producer="gw-1"
    )
    assert dead.original is None and dead.original_key is None and dead.headers == []
    assert dead.original_value_bytes() is None
    assert dead.error_reason == "processing_failed"
    assert dead.error_message == "RuntimeError: db down"
    assert dead.producer == "gw-1"


def test_dead_letter_message_is_bounded() -> None:
    dead = dead_letter_for("metrics", 0, 0, None, b"x", None, ValueError("x" * 10_000), "p")
    assert len(dead.error_message) <= 2000


def test_no_bytes_break_the_decoder() -> None:
    # json.loads raises RecursionError on deep nesting: it must still be a DecodeError.
    for value in (b"[" * 100_000, b'{"a":' * 100_000):
        with pytest.raises(DecodeError) as info:
            decode("auth.attempts", value, None)
        assert info.value.reason == "malformed"


def test_a_record_too_big_for_a_dead_letter_still_gets_one() -> None:
    value = b"x" * (DEAD_LETTER_MAX_BYTES + 1)
    headers = [(f"h{i}" + "n" * 300, b"v" * 2048) for i in range(DEAD_LETTER_MAX_HEADERS + 44)]
    error = DecodeError("malformed", "not JSON")
    dead = dead_letter_for("auth.attempts", 0, 9, b"k", value, headers, error, "gw")
    assert dead.original is None
    assert hashlib.sha256(value).hexdigest() in dead.error_message
    assert "44 headers" in dead.error_message and "header names" in dead.error_message
    assert len(dead.headers) == DEAD_LETTER_MAX_HEADERS
    assert all(len(name) <= 256 for name, _ in dead.headers)
    # and it still fits the deadletter topic once encoded
    assert len(encode(dead).value) < 4 * 1024 * 1024
    assert dead.original_key_bytes() == b"k"


def test_a_dead_letter_for_a_topic_name_kafka_would_refuse() -> None:
    dead = dead_letter_for("bad topic/\u00e9", 0, 0, None, b"x", None, ValueError("v"), "gw")
    assert dead.source_topic.startswith("invalid-topic-")


def test_a_second_version_sits_beside_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    class AuthAttemptV2(AuthAttempt):
        EVENT_VERSION = 2
        device_model: str

    v1_spec = TOPICS["auth.attempts"]
    both = dataclasses.replace(v1_spec, event_types=(AuthAttempt, AuthAttemptV2))
    monkeypatch.setitem(TOPICS, "auth.attempts", both)
    monkeypatch.setitem(cast(dict[Any, Any], EVENT_CLASSES), ("auth.attempt", 2), AuthAttemptV2)

    v1 = attempt()
    v2 = AuthAttemptV2.model_validate(v1.model_dump(exclude={"version"}) | {"device_model": "k2"})
    assert v2.version == 2
    for event in (v1, v2):
        encoded = encode(event)
        assert encoded.topic == "auth.attempts"
        decoded = decode(encoded.topic, encoded.value, encoded.headers)
        assert type(decoded) is type(event) and decoded == event
    # A consumer built before v2 existed dead-letters it instead.
    monkeypatch.setitem(TOPICS, "auth.attempts", v1_spec)
    monkeypatch.delitem(cast(dict[Any, Any], EVENT_CLASSES), ("auth.attempt", 2))
    assert reason_of("auth.attempts", v2.model_dump_json().encode()) == "unknown_version"
