"""One realistic, valid instance of every event type: for tests, docs and broker round-trips.

Ids and contents are fixed so examples read well; ``event_id`` and timestamps are fresh on
each call, so two runs never collide in an idempotent consumer.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

from schemas.auth import (
    AuthAttempt,
    AuthDecision,
    AuthFeedback,
    ChallengeCheck,
    FaceQuality,
    QualityReport,
    VoiceQuality,
)
from schemas.catalog import AUTH_GATEWAY, STREAM_PROCESSORS, TRAINER
from schemas.enums import (
    ActivationStatus,
    DecisionReason,
    FeedbackLabel,
    FeedbackSource,
    JobStage,
    JobState,
    LockAction,
    MetricDimension,
    Outcome,
    RetrainReason,
    SampleOrigin,
    TensorDType,
    WindowKind,
)
from schemas.envelope import Event
from schemas.keys import artifact_key, manifest_key
from schemas.metrics import MetricCounts, MetricWindow
from schemas.model_catalog import FACE_EMBEDDER, VOICE_EMBEDDER, ModelRef
from schemas.models import IoSpec, ModelActivation, ModelPublished, TensorSpec
from schemas.ops import DeadLetter, LockoutEvent
from schemas.training import (
    JobActivation,
    RetrainTrigger,
    TrainingJobUpdate,
    TrainingSampleCaptured,
)
from schemas.values import MediaRef, ModalityScore

USER = "alice"
TERMINAL = "term-lobby-01"
ATTEMPT = "att-7f3c2a"


def _digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def _media(bucket: str, key: str, content_type: str, size: int) -> MediaRef:
    return MediaRef.of(bucket, key, sha256=_digest(key), content_type=content_type, size_bytes=size)


def example_events() -> list[Event]:
    """One valid event per registered (type, version), in catalog order."""
    now = datetime.now(UTC)
    face = _media("samples", f"{TERMINAL}/{ATTEMPT}/face.jpg", "image/jpeg", 48_213)
    voice = _media("samples", f"{TERMINAL}/{ATTEMPT}/voice.wav", "audio/wav", 96_044)
    artifact = _media(
        "models", artifact_key(FACE_EMBEDDER, "1.3.0"), "application/octet-stream", 4_718_592
    )
    manifest = _media("models", manifest_key(FACE_EMBEDDER, "1.3.0"), "application/json", 912)
    attempt = AuthAttempt(
        producer=TERMINAL,
        attempt_id=ATTEMPT,
        terminal_id=TERMINAL,
        user_id=USER,
        challenge_id="chl-0042",
        voice=voice,
        face=face,
    )
    decision = AuthDecision(
        producer=AUTH_GATEWAY,
        attempt_id=ATTEMPT,
        user_id=USER,
        terminal_id=TERMINAL,
        outcome=Outcome.REJECT,
        reasons=[DecisionReason.VOICE_MISMATCH],
        face_score=ModalityScore(raw=0.83, calibrated=0.97),
        voice_score=ModalityScore(raw=0.41, calibrated=0.12),
        fused_score=0.55,
        thresholds={"fused_accept": 0.8, "voice_min": 0.3},
        model_versions={FACE_EMBEDDER: "1.2.0", VOICE_EMBEDDER: "1.0.0"},
        challenge=ChallengeCheck(
            expected="blue river seven", heard="blue river seven", passed=True
        ),
        latency_ms=212.5,
        decided_at=now,
    )
    quality = QualityReport(
        producer=AUTH_GATEWAY,
        attempt_id=ATTEMPT,
        user_id=USER,
        terminal_id=TERMINAL,
        face=FaceQuality(score=0.91, found=True, size=0.38, sharpness=0.88, exposure=0.93),
        voice=VoiceQuality(
            score=0.74, duration_s=2.6, speech_ratio=0.81, snr_db=18.5, clipping=0.001
        ),
    )
    feedback = AuthFeedback(
        producer=TERMINAL,
        attempt_id=ATTEMPT,
        user_id=USER,
        terminal_id=TERMINAL,
        label=FeedbackLabel.GENUINE,
        source=FeedbackSource.FALLBACK_FACTOR,
        note="badge scanned after the voice reject",
    )
    sample = TrainingSampleCaptured(
        producer=AUTH_GATEWAY,
        sample_id="smp-5d1e90",
        attempt_id=ATTEMPT,
        user_id=USER,
        terminal_id=TERMINAL,
        face=_media("training", f"{USER}/face/smp-5d1e90.jpg", "image/jpeg", 48_213),
        face_quality=0.91,
        origin=SampleOrigin.FEEDBACK,
    )
    metric = MetricWindow(
        producer=STREAM_PROCESSORS,
        metric_id="auth:model_version",
        window_start=now - timedelta(minutes=5),
        window_end=now,
        window_kind=WindowKind.TUMBLING,
        window_size_s=300,
        dimension=MetricDimension.MODEL_VERSION,
        dimension_value=str(ModelRef(name=FACE_EMBEDDER, version="1.2.0")),
        counts=MetricCounts(
            attempts=140, labelled=60, genuine=52, impostor=8, false_accepts=0, false_rejects=3
        ),
        accuracy=0.95,
        far=0.0,
        frr=3 / 52,
        mean_genuine_score=0.86,
        mean_impostor_score=0.21,
        latency_p50_ms=180.0,
        latency_p95_ms=420.0,
        mean_face_quality=0.84,
        mean_voice_quality=0.71,
    )
    trigger = RetrainTrigger(
        producer=STREAM_PROCESSORS,
        trigger_id="trg-2025-0007",
        models=[VOICE_EMBEDDER],
        reason=RetrainReason.ACCURACY_DROP,
        figures={"accuracy": 0.88, "baseline_accuracy": 0.95, "labelled": 240},
        requested_by=STREAM_PROCESSORS,
    )
    job = TrainingJobUpdate(
        producer=TRAINER,
        job_id="job-19",
        model=FACE_EMBEDDER,
        state=JobState.SUCCEEDED,
        stage=JobStage.DONE,
        progress=1.0,
        message="promoted: degraded EER 0.061 -> 0.032, clean EER 0.011 -> 0.012",
        trigger_ids=["trg-2025-0007"],
        metrics={"champion_eer_degraded": 0.061, "challenger_eer_degraded": 0.032},
        trained_version="1.3.0",
        result_version="1.3.0",
        activation=JobActivation(active=True, activated_at=now, instances=["gw-a1"]),
    )
    published = ModelPublished(
        producer=TRAINER,
        model=FACE_EMBEDDER,
        model_version="1.3.0",
        artifact=artifact,
        manifest=manifest,
        sha256=artifact.sha256,
        signature=base64.b64encode(hashlib.sha512(b"manifest").digest()).decode("ascii"),
        io=IoSpec(
            inputs=[TensorSpec(name="features", dtype=TensorDType.FLOAT32, shape=["batch", 128])],
            outputs=[TensorSpec(name="embedding", dtype=TensorDType.FLOAT32, shape=[None, 128])],
        ),
        preprocessing="face-align-150-v1",
        validation_metrics={"fmr": 0.0008, "fnmr": 0.031, "eer": 0.012},
        parent_version="1.2.0",
        training_job_id="job-19",
        data_snapshot_id="snap-2025-06-01",
    )
    activation = ModelActivation(
        producer=AUTH_GATEWAY,
        model=FACE_EMBEDDER,
        model_version="1.3.0",
        status=ActivationStatus.ACTIVATED,
        reason="canary_passed",
        previous_version="1.2.0",
        instance_id="gw-a1",
    )
    lockout = LockoutEvent(
        producer=STREAM_PROCESSORS,
        user_id="mallory",
        action=LockAction.LOCK,
        reason="consecutive_failures",
        until=now + timedelta(seconds=30),
        failures=5,
        requested_by=STREAM_PROCESSORS,
    )
    dead = DeadLetter(
        producer=AUTH_GATEWAY,
        source_topic="auth.attempts",
        partition=2,
        offset=1187,
        original_key=base64.b64encode(USER.encode()).decode("ascii"),
        original=base64.b64encode(b'{"type": "auth.attempt", "version": 9}').decode("ascii"),
        headers=[("kl-type", base64.b64encode(b"auth.attempt").decode("ascii"))],
        error_reason="unknown_version",
        error_message="'auth.attempt' version 9 is unknown (known: [1])",
        consumer_group=AUTH_GATEWAY,
    )
    return [
        attempt,
        decision,
        quality,
        feedback,
        sample,
        metric,
        trigger,
        job,
        published,
        activation,
        lockout,
        dead,
    ]
