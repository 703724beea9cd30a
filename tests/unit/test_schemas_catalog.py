"""The topic catalog, the (type, version) registry, the public API and the examples."""

from __future__ import annotations

import pytest

import schemas
from schemas import TOPICS, AuthAttempt, DeadLetter, TopicSpec, event_class, topic_for
from schemas.catalog import EVENT_CLASSES, known_versions
from schemas.examples import example_events

DESIGN_TOPICS = {
    "auth.attempts": "user_id",
    "auth.decisions": "user_id",
    "auth.quality": "user_id",
    "auth.feedback": "user_id",
    "training.samples": "user_id",
    "metrics": "metric_id",
    "retrain.triggers": "models",
    "training.jobs": "job_id",
    "models.published": "model",
    "models.activations": "model",
    "security.lockouts": "user_id",
    "deadletter": "source_topic",
}


def test_catalog_has_the_twelve_design_topics_with_their_keys() -> None:
    assert {name: spec.key_field for name, spec in TOPICS.items()} == DESIGN_TOPICS
    for name, spec in TOPICS.items():
        assert spec.name == name
        assert spec.partitions >= 1
        assert spec.description and spec.producers and spec.consumers
    assert TOPICS["deadletter"].partitions == 1


def test_every_event_class_is_on_exactly_one_topic() -> None:
    seen = [cls for spec in TOPICS.values() for cls in spec.event_types]
    assert len(seen) == len(set(seen)) == len(EVENT_CLASSES)
    for cls in seen:
        assert topic_for(cls) is topic_for(cls.EVENT_TYPE)
        assert cls in topic_for(cls).event_types


def test_topic_for_accepts_instances_classes_and_type_names() -> None:
    event = next(e for e in example_events() if isinstance(e, AuthAttempt))
    assert topic_for(event) is topic_for(AuthAttempt) is topic_for("auth.attempt")
    assert topic_for(event).name == "auth.attempts"
    with pytest.raises(KeyError, match=r"auth\.telepathy"):
        topic_for("auth.telepathy")


def test_event_class_lookup() -> None:
    assert event_class("deadletter", 1) is DeadLetter
    assert known_versions("auth.attempt") == {1}
    assert known_versions("auth.telepathy") == frozenset()
    with pytest.raises(KeyError, match="version 9"):
        event_class("auth.attempt", 9)


def test_topic_spec_rejects_a_key_its_events_do_not_use() -> None:
    with pytest.raises(ValueError, match="keyed by user_id"):
        TopicSpec(
            name="x",
            key_field="terminal_id",
            event_types=(AuthAttempt,),
            description="x",
            producers=("a",),
            consumers=("b",),
        )


def test_examples_cover_every_registered_type_once() -> None:
    events = example_events()
    idents = [(e.type, e.version) for e in events]
    assert len(idents) == len(set(idents))
    assert set(idents) == set(EVENT_CLASSES)
    for event in events:
        assert type(event) is EVENT_CLASSES[(event.type, event.version)]


def test_examples_get_fresh_event_ids() -> None:
    first, second = example_events(), example_events()
    assert not {e.event_id for e in first} & {e.event_id for e in second}


def test_public_api_names() -> None:
    for name in (
        "Event",
        "MediaRef",
        "TOPICS",
        "TopicSpec",
        "encode",
        "decode",
        "DecodeError",
        "Encoded",
        "dead_letter_for",
        *(cls.__name__ for cls in EVENT_CLASSES.values()),
    ):
        assert name in schemas.__all__, name
        assert hasattr(schemas, name), name
