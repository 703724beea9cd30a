"""Events of the login flow: attempts, decisions, sample quality and ground-truth feedback.

All are keyed by ``user_id`` so that everything about one user stays in order on one partition
(lockout counting and per-user sample counts depend on it).
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from schemas.enums import FeedbackLabel, FeedbackSource, Language, Outcome
from schemas.envelope import Event
from schemas.fields import Code, Identifier, ModelName, Score, SemVer, ShortText, Text, UtcDatetime
from schemas.values import MediaRef, ModalityScore, ValueModel


class AuthAttempt(Event):
    """A terminal asks to log a user in; the media were uploaded to the samples bucket first."""

    EVENT_TYPE: ClassVar[str] = "auth.attempt"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "user_id"

    attempt_id: Identifier
    terminal_id: Identifier
    user_id: Identifier = Field(description="the user the person claims to be")
    challenge_id: Identifier | None = Field(
        default=None, description="the spoken challenge the terminal displayed, if any"
    )
    voice: MediaRef | None = None
    face: MediaRef | None = None

    @model_validator(mode="after")
    def _some_media(self) -> Self:
        if self.voice is None and self.face is None:
            raise ValueError("an attempt needs a voice or a face sample (or both)")
        return self


class ChallengeCheck(ValueModel):
    """What the speech recogniser heard against the phrase the user was asked to say."""

    expected: ShortText
    heard: ShortText
    passed: bool
    language: Language = Field(
        default=Language.EN, description="the language the phrase was asked and heard in"
    )


class AuthDecision(Event):
    """The gateway's verdict on an attempt, with everything needed to audit it later."""

    EVENT_TYPE: ClassVar[str] = "auth.decision"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "user_id"

    attempt_id: Identifier
    user_id: Identifier
    terminal_id: Identifier
    outcome: Outcome
    reasons: list[Code] = Field(
        default_factory=list,
        max_length=16,
        description="machine codes (see DecisionReason); required unless the outcome is accept",
    )
    face_score: ModalityScore | None = None
    voice_score: ModalityScore | None = None
    fused_score: Score | None = None
    thresholds: dict[Code, float] = Field(
        default_factory=dict,
        max_length=16,
        description="the thresholds applied, by name (e.g. fused_accept, face_min)",
    )
    model_versions: dict[ModelName, SemVer] = Field(
        default_factory=dict, max_length=16, description="model name → version used"
    )
    challenge: ChallengeCheck | None = None
    latency_ms: float = Field(ge=0.0, description="from attempt received to decision")
    decided_at: UtcDatetime

    @model_validator(mode="after")
    def _non_accept_says_why(self) -> Self:
        # Dashboards and lockout logic group failures by reason; an unexplained reject is a bug.
        if self.outcome is not Outcome.ACCEPT and not self.reasons:
            raise ValueError(f"a {self.outcome} decision needs at least one reason")
        return self


class FaceQuality(ValueModel):
    """Quality of a face sample; every component is a normalised sub-score in [0, 1]."""

    score: Score
    found: bool = Field(description="a face was detected")
    size: Score = Field(description="face size relative to the frame (1 = fills it)")
    sharpness: Score
    exposure: Score = Field(description="1 = well lit; low for dark or blown-out frames")


class VoiceQuality(ValueModel):
    """Quality of a voice sample, with its components in physical units where they have one."""

    score: Score
    duration_s: float = Field(ge=0.0, le=3600.0)
    speech_ratio: Score = Field(description="share of the recording that is speech (VAD)")
    snr_db: float = Field(ge=-100.0, le=200.0)
    clipping: Score = Field(description="share of samples at full scale")


class QualityReport(Event):
    """How usable each sample of an attempt was, whatever the decision."""

    EVENT_TYPE: ClassVar[str] = "auth.quality"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "user_id"

    attempt_id: Identifier
    user_id: Identifier
    terminal_id: Identifier
    face: FaceQuality | None = None
    voice: VoiceQuality | None = None

    @model_validator(mode="after")
    def _some_quality(self) -> Self:
        if self.face is None and self.voice is None:
            raise ValueError("a quality report needs a face or a voice quality (or both)")
        return self


class AuthFeedback(Event):
    """Ground truth for an attempt, known after the fact (from a terminal, an admin, or a
    fallback factor such as a badge)."""

    EVENT_TYPE: ClassVar[str] = "auth.feedback"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "user_id"

    attempt_id: Identifier
    user_id: Identifier
    terminal_id: Identifier
    label: FeedbackLabel
    source: FeedbackSource
    note: Text | None = None
