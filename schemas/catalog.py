"""The topic catalog: every Kafka topic, its key, and the event classes it accepts.

This is the one place that says which (type, version) pairs exist. To evolve an event
incompatibly, add a class with the same ``EVENT_TYPE`` and the next ``EVENT_VERSION`` to the
topic's ``event_types``, beside the old one: consumers built before it dead-letter the new
version, consumers built after accept both until the old one is retired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.auth import AuthAttempt, AuthDecision, AuthFeedback, QualityReport
from schemas.envelope import Event
from schemas.metrics import MetricWindow
from schemas.models import ModelActivation, ModelPublished
from schemas.ops import DeadLetter, LockoutEvent
from schemas.training import RetrainTrigger, TrainingJobUpdate, TrainingSampleCaptured

# The services, as they name themselves in an event's ``producer`` and in this catalog.
AUTH_GATEWAY = "auth_gateway"
STREAM_PROCESSORS = "stream_processors"
TRAINER = "trainer"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key_field: str
    event_types: tuple[type[Event], ...]
    description: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    partitions: int = 3
    # Compacted topics keep the latest record per key (the current state of a job, a model,
    # a lock) for consumers that start late; the others are logs of facts, kept by time.
    compacted: bool = False

    def __post_init__(self) -> None:
        if not self.event_types:
            raise ValueError(f"topic {self.name} accepts no event type")
        if self.partitions < 1:
            raise ValueError(f"topic {self.name} needs at least one partition")
        for cls in self.event_types:
            if self.key_field != cls.KEY_FIELD:
                raise ValueError(
                    f"{cls.__name__} is keyed by {cls.KEY_FIELD}, topic {self.name} by "
                    f"{self.key_field}"
                )


def _topics(*specs: TopicSpec) -> dict[str, TopicSpec]:
    return {spec.name: spec for spec in specs}


TOPICS: dict[str, TopicSpec] = _topics(
    TopicSpec(
        name="auth.attempts",
        key_field="user_id",
        event_types=(AuthAttempt,),
        description="Login attempts: claimed user, challenge and references to the media.",
        producers=("terminals",),
        consumers=(AUTH_GATEWAY,),
    ),
    TopicSpec(
        name="auth.decisions",
        key_field="user_id",
        event_types=(AuthDecision,),
        description="Accept / reject / retry with scores, thresholds, model versions, reasons.",
        producers=(AUTH_GATEWAY,),
        consumers=(STREAM_PROCESSORS, "analysts"),
    ),
    TopicSpec(
        name="auth.quality",
        key_field="user_id",
        event_types=(QualityReport,),
        description="Quality of each sample of an attempt (face and voice components).",
        producers=(AUTH_GATEWAY,),
        consumers=(STREAM_PROCESSORS,),
    ),
    TopicSpec(
        name="auth.feedback",
        key_field="user_id",
        event_types=(AuthFeedback,),
        description="Ground truth for an attempt: genuine, impostor or attack.",
        producers=("terminals", "admins"),
        consumers=(STREAM_PROCESSORS,),
    ),
    TopicSpec(
        name="training.samples",
        key_field="user_id",
        event_types=(TrainingSampleCaptured,),
        description="Curated samples copied to the training bucket.",
        producers=(AUTH_GATEWAY,),
        consumers=(STREAM_PROCESSORS, TRAINER),
    ),
    TopicSpec(
        name="metrics",
        key_field="metric_id",
        event_types=(MetricWindow,),
        description="Windowed accuracy, FAR, FRR, volume, latency per model version / terminal.",
        producers=(STREAM_PROCESSORS,),
        consumers=("dashboard", "analysts"),
    ),
    TopicSpec(
        name="retrain.triggers",
        key_field="models",
        event_types=(RetrainTrigger,),
        description="What to retrain and why; keyed by the first (primary) model named.",
        producers=(STREAM_PROCESSORS, "api"),
        consumers=(TRAINER,),
    ),
    TopicSpec(
        name="training.jobs",
        key_field="job_id",
        event_types=(TrainingJobUpdate,),
        description="Training job states: queued, running (progress), succeeded, failed.",
        producers=(TRAINER,),
        consumers=("api", "dashboard"),
        compacted=True,
    ),
    TopicSpec(
        name="models.published",
        key_field="model",
        event_types=(ModelPublished,),
        description="New model versions: artifact, sha256, signature, I/O spec, metrics.",
        producers=(TRAINER, "model_import"),
        consumers=(AUTH_GATEWAY,),
        compacted=True,
    ),
    TopicSpec(
        name="models.activations",
        key_field="model",
        event_types=(ModelActivation,),
        description="Per gateway instance: a version activated, rejected or rolled back.",
        producers=(AUTH_GATEWAY,),
        consumers=("everyone",),
    ),
    TopicSpec(
        name="security.lockouts",
        key_field="user_id",
        event_types=(LockoutEvent,),
        description="Lock or unlock a user's biometric login.",
        producers=(STREAM_PROCESSORS, "api"),
        consumers=(AUTH_GATEWAY,),
        compacted=True,
    ),
    TopicSpec(
        name="deadletter",
        key_field="source_topic",
        event_types=(DeadLetter,),
        description="Records that could not be decoded, validated or processed, kept verbatim.",
        producers=("any consumer",),
        consumers=("operators",),
        # One partition: low volume, and one ordered log is easier to inspect and replay.
        partitions=1,
    ),
)


def _registry() -> dict[tuple[str, int], type[Event]]:
    registry: dict[tuple[str, int], type[Event]] = {}
    types_on: dict[str, str] = {}
    for spec in TOPICS.values():
        for cls in spec.event_types:
            ident = (cls.EVENT_TYPE, cls.EVENT_VERSION)
            if ident in registry:
                raise ValueError(f"{ident} is registered twice")
            # One type, one topic: encode() must know where an event goes from its type alone.
            if types_on.setdefault(cls.EVENT_TYPE, spec.name) != spec.name:
                raise ValueError(f"{cls.EVENT_TYPE} is on two topics")
            registry[ident] = cls
    return registry


EVENT_CLASSES: Mapping[tuple[str, int], type[Event]] = _registry()
_TOPIC_OF_TYPE: dict[str, TopicSpec] = {
    cls.EVENT_TYPE: spec for spec in TOPICS.values() for cls in spec.event_types
}


def topic_for(event: Event | type[Event] | str) -> TopicSpec:
    """The topic an event (instance, class, or type name) is published on.

    Raises ``KeyError`` for a type that no topic accepts.
    """
    type_name = event if isinstance(event, str) else event.EVENT_TYPE
    try:
        return _TOPIC_OF_TYPE[type_name]
    except KeyError:
        raise KeyError(f"no topic carries events of type {type_name!r}") from None


def known_versions(type_name: str) -> frozenset[int]:
    """The versions of ``type_name`` this code can read (empty for an unknown type)."""
    return frozenset(version for (name, version) in EVENT_CLASSES if name == type_name)


def event_class(type_name: str, version: int) -> type[Event]:
    """The class for a (type, version) pair; ``KeyError`` if this code does not know it."""
    try:
        return EVENT_CLASSES[(type_name, version)]
    except KeyError:
        raise KeyError(f"unknown event {type_name!r} version {version}") from None
