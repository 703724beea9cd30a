"""Issue 12's fuzz run for the bus: hostile bytes on every topic are refused with a reason.

For each catalog topic, hypothesis sends arbitrary bytes, arbitrary JSON, and valid events of
that topic with fields removed, retyped or replaced; decoding must give an event or a
``DecodeError`` (never another exception), and every refusal must make a dead letter that
itself encodes and decodes. The number of cases tried is printed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import TOPICS, DecodeError, Event, dead_letter_for, decode, encode
from schemas.examples import example_events

CASES_PER_TOPIC = 300
TRIED: dict[str, int] = {}

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)
_headers = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=6)


def _examples(topic: str) -> list[dict[str, Any]]:
    return [
        json.loads(encode(e).value)
        for e in example_events()
        if type(e) in TOPICS[topic].event_types
    ]


@st.composite
def _mutated(draw: st.DrawFn, topic: str) -> bytes:
    body = dict(draw(st.sampled_from(_examples(topic))))
    field = draw(st.sampled_from(sorted(body)))
    action = draw(st.sampled_from(["drop", "replace", "nest"]))
    if action == "drop":
        body.pop(field)
    elif action == "replace":
        body[field] = draw(_json)
    else:
        body[field] = {"$gt": body[field]}
    return json.dumps(body).encode()


def _check(topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    TRIED[topic] = TRIED.get(topic, 0) + 1
    try:
        event = decode(topic, value, headers)
    except DecodeError as exc:
        letter = dead_letter_for(topic, 0, 0, None, value, headers, exc, "fuzz")
        encoded = encode(letter)
        assert decode("deadletter", encoded.value, encoded.headers) == letter
        return
    assert isinstance(event, Event)


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_no_bytes_on_any_topic_escape_the_codec(topic: str) -> None:
    @settings(
        max_examples=CASES_PER_TOPIC,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(
        value=st.binary(max_size=300)
        | _json.map(lambda j: json.dumps(j).encode())
        | _mutated(topic),
        headers=_headers,
    )
    def run(value: bytes, headers: list[tuple[str, bytes]]) -> None:
        _check(topic, value, headers)

    run()
    print(f"fuzz: {TRIED[topic]} cases on {topic}")
    assert TRIED[topic] >= CASES_PER_TOPIC // 2
