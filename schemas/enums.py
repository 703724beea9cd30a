"""The closed vocabularies of the events: a value outside these fails validation.

``DecisionReason`` is the exception: it lists every code the gateway emits (a unit test holds it
to that), but the decision's ``reasons`` field accepts any well-formed code so a newer gateway
can add one without a schema version bump.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    RETRY = "retry"  # the sample was unusable (no face, noise…): ask again, not a failure


class DecisionReason(StrEnum):
    # Rejected before any media is judged.
    LOCKED = "locked"
    CHALLENGE_MISSING = "challenge_missing"  # a voice sample without a challenge to answer
    CHALLENGE_UNKNOWN = "challenge_unknown"
    CHALLENGE_EXPIRED = "challenge_expired"
    CHALLENGE_REUSED = "challenge_reused"
    # The media references.
    MISSING_OBJECT = "missing_object"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    OBJECT_STORE_ERROR = "object_store_error"
    REPLAY = "replay"
    INVALID_MEDIA = "invalid_media"
    # Unusable captures: the terminal asks again (outcome ``retry``).
    NO_FACE = "no_face"
    NO_SPEECH = "no_speech"
    LOW_QUALITY = "low_quality"
    # The judgement.
    CHALLENGE_MISMATCH = "challenge_mismatch"  # wrong digits, or issued to another user/terminal
    NOT_ENROLLED = "not_enrolled"  # no template for the model version that scored the sample
    UNCALIBRATED_MODEL = "uncalibrated_model"  # no operating point for that model version
    FACE_MISMATCH = "face_mismatch"
    VOICE_MISMATCH = "voice_mismatch"
    MISSING_MODALITY = "missing_modality"  # the policy needs both factors
    SCORE_BELOW_THRESHOLD = "score_below_threshold"  # each factor passed, the fused score not


class Language(StrEnum):
    """Languages a terminal may ask its spoken challenge in (whisper's language codes)."""

    EN = "en"
    FR = "fr"
    AR = "ar"
    AZ = "az"


class FeedbackLabel(StrEnum):
    GENUINE = "genuine"
    IMPOSTOR = "impostor"
    ATTACK = "attack"  # a presentation attack (photo, replayed audio): an impostor that cheats


class FeedbackSource(StrEnum):
    TERMINAL = "terminal"
    ADMIN = "admin"
    FALLBACK_FACTOR = "fallback_factor"  # the user proved who they are another way (PIN, card)


class SampleOrigin(StrEnum):
    ACCEPTED = "accepted"  # from an attempt the gateway accepted with high confidence
    FEEDBACK = "feedback"  # from an attempt whose ground truth came later, as feedback


class WindowKind(StrEnum):
    TUMBLING = "tumbling"
    HOPPING = "hopping"


class MetricDimension(StrEnum):
    MODEL_VERSION = "model_version"
    TERMINAL = "terminal"
    GLOBAL = "global"


class RetrainReason(StrEnum):
    ACCURACY_DROP = "accuracy_drop"
    USER_SAMPLE_COUNT = "user_sample_count"
    MANUAL = "manual"
    DRIFT = "drift"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # a new version was published
    # The job ran to the end honestly, but its model did not beat the active one: nothing was
    # published. An outcome, not a failure.
    SUCCEEDED_NOT_PROMOTED = "succeeded-not-promoted"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


class JobStage(StrEnum):
    """Where a running job is; progress is reported within the whole job, not per stage."""

    QUEUED = "queued"
    SNAPSHOT = "snapshot"  # listing and hashing the data the job will use
    FEATURES = "features"  # base embeddings / labels from the snapshot
    TRAINING = "training"
    EXPORT = "export"  # ONNX export and the parity check
    EVALUATION = "evaluation"  # champion / challenger on held-back data
    PUBLISH = "publish"
    DONE = "done"


class ActivationStatus(StrEnum):
    ACTIVATED = "activated"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"


class LockAction(StrEnum):
    LOCK = "lock"
    UNLOCK = "unlock"


class TensorDType(StrEnum):
    """Element types of an ONNX model's inputs and outputs (ONNX's own names)."""

    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    BOOL = "bool"
    STRING = "string"
