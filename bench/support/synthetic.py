"""Synthetic login traffic for the processors: valid events with scripted times and outcomes.

The benchmark's load and the tests' scripted streams are built from these, so they exercise
exactly the schemas the gateway and the terminals publish.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas import (
    AuthDecision,
    AuthFeedback,
    DecisionReason,
    FaceQuality,
    FeedbackLabel,
    FeedbackSource,
    MediaRef,
    Outcome,
    QualityReport,
    SampleOrigin,
    TrainingSampleCaptured,
    VoiceQuality,
)
from schemas.catalog import AUTH_GATEWAY
from schemas.model_catalog import FACE_EMBEDDER, VOICE_EMBEDDER

TERMINAL_SDK = "terminal-sim"
MODELS = {FACE_EMBEDDER: "1.2.0", VOICE_EMBEDDER: "1.0.0"}

_REASON = {
    Outcome.REJECT: [DecisionReason.FACE_MISMATCH.value],
    Outcome.RETRY: [DecisionReason.NO_FACE.value],
    Outcome.ACCEPT: [],
}


def decision(
    attempt_id: str,
    user_id: str,
    at: datetime,
    outcome: Outcome,
    *,
    terminal_id: str = "term-1",
    latency_ms: float = 200.0,
    fused_score: float | None = 0.5,
    models: dict[str, str] | None = None,
    reasons: list[str] | None = None,
) -> AuthDecision:
    return AuthDecision(
        producer=AUTH_GATEWAY,
        occurred_at=at,
        attempt_id=attempt_id,
        user_id=user_id,
        terminal_id=terminal_id,
        outcome=outcome,
        reasons=_REASON[outcome] if reasons is None else reasons,
        fused_score=fused_score,
        model_versions=MODELS if models is None else models,
        latency_ms=latency_ms,
        decided_at=at,
    )


def feedback(
    attempt_id: str,
    user_id: str,
    at: datetime,
    label: FeedbackLabel,
    *,
    terminal_id: str = "term-1",
) -> AuthFeedback:
    return AuthFeedback(
        producer=TERMINAL_SDK,
        occurred_at=at,
        attempt_id=attempt_id,
        user_id=user_id,
        terminal_id=terminal_id,
        label=label,
        source=FeedbackSource.FALLBACK_FACTOR,
    )


def quality(
    attempt_id: str,
    user_id: str,
    at: datetime,
    *,
    face: float | None,
    voice: float | None,
    terminal_id: str = "term-1",
) -> QualityReport:
    return QualityReport(
        producer=AUTH_GATEWAY,
        occurred_at=at,
        attempt_id=attempt_id,
        user_id=user_id,
        terminal_id=terminal_id,
        face=None
        if face is None
        else FaceQuality(score=face, found=True, size=0.4, sharpness=face, exposure=face),
        voice=None
        if voice is None
        else VoiceQuality(score=voice, duration_s=2.5, speech_ratio=0.8, snr_db=20.0, clipping=0.0),
    )


def voice_sample(sample_id: str, user_id: str, at: datetime) -> TrainingSampleCaptured:
    key = f"{user_id}/voice/{sample_id}.wav"
    return TrainingSampleCaptured(
        producer=AUTH_GATEWAY,
        occurred_at=at,
        sample_id=sample_id,
        attempt_id=f"att-{sample_id}",
        user_id=user_id,
        terminal_id="term-1",
        voice=MediaRef.of(
            "training",
            key,
            sha256=hashlib.sha256(key.encode()).hexdigest(),
            content_type="audio/wav",
            size_bytes=64_000,
        ),
        voice_quality=0.8,
        origin=SampleOrigin.ACCEPTED,
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """A decision, the quality report of its samples and the feedback that labels it."""

    decision: AuthDecision
    quality: QualityReport
    feedback: AuthFeedback

    @property
    def events(self) -> tuple[AuthDecision, QualityReport, AuthFeedback]:
        return self.decision, self.quality, self.feedback


def traffic(
    n: int,
    start: datetime,
    *,
    per_second: float,
    users: int = 500,
    terminals: int = 10,
    impostor_share: float = 0.1,
    accuracy: float = 0.97,
    dips: tuple[tuple[float, float], ...] = (),
    seed: int = 7,
) -> Iterator[Attempt]:
    """``n`` labelled attempts, ``per_second`` of event time apart on average.

    ``dips`` are (from, to) fractions of the stream where accuracy falls to 0.6, which is what
    makes retrain triggers fire. Feedback follows its decision by a few seconds.
    """
    rng = random.Random(seed)
    for i in range(n):
        at = start + timedelta(seconds=i / per_second)
        user = f"user-{rng.randrange(users)}"
        terminal = f"term-{rng.randrange(terminals)}"
        label = FeedbackLabel.IMPOSTOR if rng.random() < impostor_share else FeedbackLabel.GENUINE
        in_dip = any(lo <= i / n < hi for lo, hi in dips)
        correct = rng.random() < (0.6 if in_dip else accuracy)
        accepted = (label is FeedbackLabel.GENUINE) == correct
        outcome = Outcome.ACCEPT if accepted else Outcome.REJECT
        attempt_id = f"att-{seed}-{i}"
        yield Attempt(
            decision(
                attempt_id,
                user,
                at,
                outcome,
                terminal_id=terminal,
                latency_ms=rng.lognormvariate(5.3, 0.4),
                fused_score=rng.random(),
            ),
            quality(
                attempt_id,
                user,
                at,
                face=round(rng.uniform(0.5, 1.0), 3),
                voice=round(rng.uniform(0.4, 1.0), 3),
                terminal_id=terminal,
            ),
            feedback(
                attempt_id,
                user,
                at + timedelta(seconds=rng.uniform(0.5, 5.0)),
                label,
                terminal_id=terminal,
            ),
        )
