"""Events that feed LifeModo: curated samples, retrain requests and training job progress."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from schemas.enums import JobStage, JobState, RetrainReason, SampleOrigin
from schemas.envelope import Event
from schemas.fields import Code, Identifier, ModelName, Score, SemVer, Text, UtcDatetime
from schemas.values import MediaRef, ValueModel


class TrainingSampleCaptured(Event):
    """A sample judged good enough to train on, copied from the samples to the training bucket."""

    EVENT_TYPE: ClassVar[str] = "training.sample"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "user_id"

    sample_id: Identifier
    attempt_id: Identifier
    user_id: Identifier
    terminal_id: Identifier
    face: MediaRef | None = None
    voice: MediaRef | None = None
    face_quality: Score | None = None
    voice_quality: Score | None = None
    origin: SampleOrigin

    @model_validator(mode="after")
    def _media_with_quality(self) -> Self:
        if self.face is None and self.voice is None:
            raise ValueError("a training sample needs a face or a voice reference (or both)")
        # The trainer filters on quality: a reference without its score could not be filtered.
        for modality, ref, quality in (
            ("face", self.face, self.face_quality),
            ("voice", self.voice, self.voice_quality),
        ):
            if (ref is None) != (quality is None):
                raise ValueError(f"{modality} and {modality}_quality go together")
        return self


class RetrainTrigger(Event):
    """A request to retrain one or more models, and the figures that motivated it.

    The partition key is the first model in ``models``: a trigger is ordered with the other
    triggers of its primary model.
    """

    EVENT_TYPE: ClassVar[str] = "retrain.trigger"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "models"

    trigger_id: Identifier
    models: list[ModelName] = Field(min_length=1, max_length=8)
    reason: RetrainReason
    user_id: Identifier | None = Field(
        default=None, description="set for a per-user (personalisation) retrain"
    )
    figures: dict[Code, float] = Field(
        default_factory=dict,
        max_length=32,
        description="the window figures behind the trigger (e.g. accuracy, baseline, samples)",
    )
    requested_by: Identifier

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.models)) != len(self.models):
            raise ValueError("models must not repeat")
        if self.reason is RetrainReason.USER_SAMPLE_COUNT and self.user_id is None:
            raise ValueError("a user_sample_count trigger names its user_id")
        return self

    def key(self) -> str:
        return self.models[0]


class JobActivation(ValueModel):
    """What the gateways did with the version a job published, from their reports on
    ``models.activations``: ``active`` is where the version stands now; each ``*_at`` is the
    latest report of its kind."""

    active: bool = Field(
        description="a gateway activated it, and no rollback or later version replaced it since"
    )
    activated_at: UtcDatetime | None = Field(
        default=None, description="the first activation a gateway instance reported"
    )
    instances: list[Identifier] = Field(
        default_factory=list,
        max_length=64,
        description="the gateway instances that reported activating it",
    )
    replaced_at: UtcDatetime | None = Field(
        default=None, description="when a later version was activated in its place"
    )
    replaced_by: SemVer | None = Field(default=None, description="that later version")
    rolled_back_at: UtcDatetime | None = Field(
        default=None, description="when a gateway rolled it back (to the version it replaced)"
    )
    rollback_reason: Code | None = Field(
        default=None, description="why it was rolled back (e.g. manual, score_drift)"
    )
    rejected_at: UtcDatetime | None = Field(
        default=None, description="when a gateway refused to activate it"
    )
    rejection_reason: Code | None = Field(
        default=None, description="why (e.g. canary_regression, signature_untrusted)"
    )


class TrainingJobUpdate(Event):
    """The state of a training job; the last update per job_id is its current state.

    Version 2 added the stage, the triggers the job serves, the user of a per-user job, and the
    job's figures; a job that ran but did not beat the active model ends
    ``succeeded-not-promoted`` with the version it trained in ``trained_version``. The optional
    ``activation`` (added within version 2) follows the published version into the gateways.
    """

    EVENT_TYPE: ClassVar[str] = "training.job"
    EVENT_VERSION: ClassVar[int] = 2
    KEY_FIELD: ClassVar[str] = "job_id"

    job_id: Identifier
    model: ModelName
    state: JobState
    stage: JobStage = JobStage.QUEUED
    progress: Score = 0.0
    message: Text = ""
    trigger_ids: list[Identifier] = Field(
        default_factory=list, max_length=64, description="the triggers coalesced into this job"
    )
    user_id: Identifier | None = Field(default=None, description="set for a per-user job")
    metrics: dict[Code, float] = Field(
        default_factory=dict,
        max_length=64,
        description="the job's figures: both sides of champion / challenger, data counts",
    )
    trained_version: SemVer | None = Field(
        default=None, description="the version the job trained, promoted or not"
    )
    result_version: SemVer | None = Field(
        default=None, description="the version published; set exactly when succeeded"
    )
    activation: JobActivation | None = Field(
        default=None,
        description="what the gateways did with result_version (from models.activations); "
        "set only when succeeded",
    )

    @model_validator(mode="after")
    def _result_iff_succeeded(self) -> Self:
        succeeded = self.state is JobState.SUCCEEDED
        if succeeded != (self.result_version is not None):
            raise ValueError("result_version is set exactly when the job succeeded")
        if self.state is JobState.FAILED and not self.message:
            raise ValueError("a failed job says why in message")
        if self.state is JobState.SUCCEEDED_NOT_PROMOTED and self.trained_version is None:
            raise ValueError("a job that was not promoted names the version it trained")
        if self.activation is not None and not succeeded:
            raise ValueError("only a job that published a version has an activation")
        return self
