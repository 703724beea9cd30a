"""KibaLock's contracts: one pydantic model per event, the topic catalog, the Kafka codec.

Import from here; the submodules are an implementation detail.
"""

from schemas.auth import (
    AuthAttempt,
    AuthDecision,
    AuthFeedback,
    ChallengeCheck,
    FaceQuality,
    QualityReport,
    VoiceQuality,
)
from schemas.catalog import TOPICS, TopicSpec, event_class, known_versions, topic_for
from schemas.codec import (
    DECODE_REASONS,
    HEADER_EVENT_ID,
    HEADER_PRODUCER,
    HEADER_TYPE,
    HEADER_VERSION,
    DecodeError,
    DecodeReason,
    Encoded,
    dead_letter_for,
    decode,
    encode,
)
from schemas.enums import (
    ActivationStatus,
    DecisionReason,
    FeedbackLabel,
    FeedbackSource,
    JobStage,
    JobState,
    Language,
    LockAction,
    MetricDimension,
    Outcome,
    RetrainReason,
    SampleOrigin,
    TensorDType,
    WindowKind,
)
from schemas.envelope import Event
from schemas.metrics import MetricCounts, MetricWindow
from schemas.models import IoSpec, ModelActivation, ModelPublished, TensorSpec
from schemas.ops import DeadLetter, LockoutEvent
from schemas.training import RetrainTrigger, TrainingJobUpdate, TrainingSampleCaptured
from schemas.values import MediaRef, ModalityScore

__all__ = [
    "DECODE_REASONS",
    "HEADER_EVENT_ID",
    "HEADER_PRODUCER",
    "HEADER_TYPE",
    "HEADER_VERSION",
    "TOPICS",
    "ActivationStatus",
    "AuthAttempt",
    "AuthDecision",
    "AuthFeedback",
    "ChallengeCheck",
    "DeadLetter",
    "DecisionReason",
    "DecodeError",
    "DecodeReason",
    "Encoded",
    "Event",
    "FaceQuality",
    "FeedbackLabel",
    "FeedbackSource",
    "IoSpec",
    "JobStage",
    "JobState",
    "Language",
    "LockAction",
    "LockoutEvent",
    "MediaRef",
    "MetricCounts",
    "MetricDimension",
    "MetricWindow",
    "ModalityScore",
    "ModelActivation",
    "ModelPublished",
    "Outcome",
    "QualityReport",
    "RetrainReason",
    "RetrainTrigger",
    "SampleOrigin",
    "TensorDType",
    "TensorSpec",
    "TopicSpec",
    "TrainingJobUpdate",
    "TrainingSampleCaptured",
    "VoiceQuality",
    "WindowKind",
    "dead_letter_for",
    "decode",
    "encode",
    "event_class",
    "known_versions",
    "topic_for",
]
