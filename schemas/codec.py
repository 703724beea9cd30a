"""Kafka (de)serialisation of events, and the dead letter for records that fail it.

Wire format:

- value: compact UTF-8 JSON of the whole event (envelope and payload, flat);
- key: UTF-8 of ``event.key()``, the catalog's partition key;
- headers, repeating the envelope so a consumer can route or drop a record unparsed, all UTF-8:
  ``kl-type`` (``auth.attempt``), ``kl-version`` (decimal, ``1``), ``kl-event-id`` (UUID) and
  ``kl-producer``.

Decoding trusts the body: headers are optional (a record written by another tool may have
none), but a ``kl-type`` or ``kl-version`` header that contradicts the body is a
``header_mismatch`` — someone routed or rewrote the record wrongly, and guessing which side is
right could run the wrong handler.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import ValidationError

from schemas.catalog import EVENT_CLASSES, TOPICS, known_versions, topic_for
from schemas.envelope import Event
from schemas.fields import TEXT_MAX_LENGTH
from schemas.ops import DeadLetter

HEADER_TYPE = "kl-type"
HEADER_VERSION = "kl-version"
HEADER_EVENT_ID = "kl-event-id"
HEADER_PRODUCER = "kl-producer"

DecodeReason = Literal[
    "malformed",  # no value, empty, not UTF-8, not a JSON object, or no usable type/version
    "header_mismatch",  # kl-type / kl-version headers contradict the body
    "unknown_type",  # no version of this type is known here
    "unknown_version",  # the type is known, this version is not (yet, or any more)
    "wrong_topic",  # a known event, on a topic that does not carry it
    "invalid",  # the body does not validate against its (type, version) schema
]
DECODE_REASONS: tuple[DecodeReason, ...] = get_args(DecodeReason)

# The dead letter's error_reason for an exception that is not a DecodeError.
PROCESSING_FAILED = "processing_failed"

_MAX_ERRORS_LISTED = 10
# What a dead letter carries of the original record. The deadletter topic takes 4 MiB records;
# base64 adds a third, and the envelope and the headers need room too.
DEAD_LETTER_MAX_BYTES = 1536 * 1024
DEAD_LETTER_MAX_HEADERS = 256
_HEADER_NAME_MAX = 256
_HEADER_BYTES_MAX = 256 * 1024
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class DecodeError(ValueError):
    """A record that cannot become an event; ``reason`` is one of ``DECODE_REASONS``."""

    def __init__(self, reason: DecodeReason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: DecodeReason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Encoded:
    """An event ready for a Kafka producer."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def encode(event: Event) -> Encoded:
    """Serialise a registered event for its topic (``ValueError`` if its class is unknown)."""
    ident = (event.EVENT_TYPE, event.EVENT_VERSION)
    if EVENT_CLASSES.get(ident) is not type(event):
        # What cannot be decoded must not be produced.
        raise ValueError(f"{type(event).__name__} is not the registered class for {ident}")
    return Encoded(
        topic=topic_for(event).name,
        key=event.key().encode(),
        value=event.model_dump_json().encode(),
        headers=[
            (HEADER_TYPE, event.type.encode()),
            (HEADER_VERSION, str(event.version).encode()),
            (HEADER_EVENT_ID, str(event.event_id).encode()),
            (HEADER_PRODUCER, event.producer.encode()),
        ],
    )


def decode(
    topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes]] | None = None
) -> Event:
    """Parse and validate a record read from ``topic``; raise ``DecodeError`` if it cannot be.

    Total: whatever the bytes provoke in the parser (``RecursionError`` from deeply nested JSON,
    ``MemoryError``…) comes out as a ``malformed`` DecodeError, so no record can stop a consumer.
    """
    try:
        return _decode(topic, value, headers)
    except DecodeError:
        raise
    except Exception as exc:
        reason = f"the record broke the parser: {type(exc).__name__}"
        raise DecodeError("malformed", reason) from exc


def _decode(topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes]] | None) -> Event:
    if value is None:
        raise DecodeError("malformed", "the record has no value (a tombstone?)")
    body = _parse_object(value)
    type_name, version = _envelope(body)
    _check_headers(headers or (), type_name, version)
    cls = EVENT_CLASSES.get((type_name, version))
    if cls is None:
        versions = known_versions(type_name)
        if not versions:
            raise DecodeError("unknown_type", f"unknown event type {type_name!r}")
        raise DecodeError(
            "unknown_version",
            f"{type_name!r} version {version} is unknown (known: {sorted(versions)})",
        )
    spec = TOPICS.get(topic)
    if spec is None or cls not in spec.event_types:
        raise DecodeError(
            "wrong_topic",
            f"{type_name!r} belongs on {topic_for(cls).name!r}, not on {topic!r}",
        )
    try:
        # The body already parsed as JSON; validating in JSON mode keeps JSON's types strict
        # (a string "12" is not a number) while still reading UUIDs, dates and enums from text.
        return cls.model_validate_json(value, strict=True)
    except ValidationError as exc:
        raise DecodeError("invalid", f"{type_name} v{version}: {_summary(exc)}") from exc


def dead_letter_for(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    error: DecodeError | Exception,
    consumer_group: str,
    *,
    producer: str | None = None,
) -> DeadLetter:
    """The dead letter for a record that failed with ``error`` in ``consumer_group``.

    The record's key, value and headers are kept as base64, so ``DeadLetter.original_*``
    give back the exact bytes. ``producer`` defaults to the consumer group.

    Total, like :func:`decode`: a record too big to be carried whole (its value or key over
    :data:`DEAD_LETTER_MAX_BYTES`, more than :data:`DEAD_LETTER_MAX_HEADERS` headers, a header
    name too long) still gets a dead letter; what was left out is named in the message, with
    the sha256 of an omitted value so the original can be found upstream.
    """
    reason: str
    if isinstance(error, DecodeError):
        reason, message = error.reason, error.message
    else:
        reason, message = PROCESSING_FAILED, f"{type(error).__name__}: {error}"
    omitted: list[str] = []
    kept_headers = list(headers or ())
    if len(kept_headers) > DEAD_LETTER_MAX_HEADERS:
        omitted.append(f"{len(kept_headers) - DEAD_LETTER_MAX_HEADERS} headers")
        kept_headers = kept_headers[:DEAD_LETTER_MAX_HEADERS]
    if any(len(name) > _HEADER_NAME_MAX for name, _ in kept_headers):
        omitted.append("the end of over-long header names")
    carried = [(name[:_HEADER_NAME_MAX], raw) for name, raw in kept_headers]
    if sum(len(raw) for _, raw in carried) > _HEADER_BYTES_MAX:
        omitted.append("header values")
        carried = [(name, b"") for name, _ in carried]
    if value is not None and len(value) > DEAD_LETTER_MAX_BYTES:
        digest = hashlib.sha256(value).hexdigest()
        omitted.append(f"the value ({len(value)} bytes, sha256 {digest})")
        value = None
    if key is not None and len(key) > DEAD_LETTER_MAX_BYTES:
        omitted.append(f"the key ({len(key)} bytes)")
        key = None
    if omitted:
        # First, so that truncating a long error message never hides it.
        message = f"[not carried: {'; '.join(omitted)}] {message}"
    return DeadLetter(
        producer=producer or consumer_group,
        source_topic=topic if _TOPIC_NAME.match(topic) else _unprintable_topic(topic),
        partition=partition,
        offset=offset,
        original_key=_b64(key),
        original=_b64(value),
        headers=[(name, base64.b64encode(raw).decode("ascii")) for name, raw in carried],
        error_reason=reason,
        error_message=message[:TEXT_MAX_LENGTH],
        consumer_group=consumer_group,
    )


def _unprintable_topic(topic: str) -> str:
    return "invalid-topic-" + hashlib.sha256(topic.encode("utf-8", "replace")).hexdigest()[:16]


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # With duplicate keys, which value wins depends on the parser; refuse the ambiguity.
    obj: dict[str, Any] = {}
    for name, item in pairs:
        if name in obj:
            raise ValueError(f"duplicate key {name!r}")
        obj[name] = item
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_object(value: bytes) -> dict[str, Any]:
    if not value:
        raise DecodeError("malformed", "the record's value is empty")
    try:
        # Decode explicitly: json.loads(bytes) would also accept UTF-16 and UTF-32.
        body = json.loads(
            value.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError as exc:
        raise DecodeError("malformed", f"not UTF-8: {exc}") from exc
    except ValueError as exc:  # JSONDecodeError is a ValueError, as are the hooks' errors
        raise DecodeError("malformed", f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise DecodeError("malformed", f"the JSON is a {type(body).__name__}, not an object")
    return body


def _envelope(body: dict[str, Any]) -> tuple[str, int]:
    type_name, version = body.get("type"), body.get("version")
    if not isinstance(type_name, str) or not type_name:
        raise DecodeError("malformed", "the envelope has no 'type' string")
    # bool is an int in Python, but `true` is no version.
    if not isinstance(version, int) or isinstance(version, bool):
        raise DecodeError("malformed", "the envelope has no integer 'version'")
    return type_name, version


def _check_headers(headers: Sequence[tuple[str, bytes]], type_name: str, version: int) -> None:
    expected = {HEADER_TYPE: type_name.encode(), HEADER_VERSION: str(version).encode()}
    for name, raw in headers:
        if name in expected and raw != expected[name]:
            shown = raw.decode("utf-8", errors="replace")[:80]
            raise DecodeError(
                "header_mismatch",
                f"header {name}={shown!r} contradicts the body ({expected[name].decode()!r})",
            )


def _summary(exc: ValidationError) -> str:
    # Field paths and messages only: input values may be personal data, and the dead letter
    # keeps the original bytes anyway.
    errors = exc.errors(include_url=False, include_input=False)
    parts = [
        f"{'.'.join(str(loc) for loc in err['loc']) or '(event)'}: {err['msg']}"
        for err in errors[:_MAX_ERRORS_LISTED]
    ]
    if len(errors) > _MAX_ERRORS_LISTED:
        parts.append(f"and {len(errors) - _MAX_ERRORS_LISTED} more")
    return "; ".join(parts)
