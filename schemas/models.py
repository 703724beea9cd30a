"""Lifecycle events of the machine-learning models: the trainer publishes a version, then each
gateway instance activates it, rejects it, or rolls it back.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Self

from pydantic import Field, StringConstraints, model_validator

from schemas.enums import ActivationStatus, TensorDType
from schemas.envelope import Event
from schemas.fields import Base64, Code, Identifier, ModelName, SemVer, Sha256Hex, Text
from schemas.keys import artifact_key, manifest_key
from schemas.values import MediaRef, ValueModel

TensorName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
DimName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TensorSpec(ValueModel):
    """One input or output of the ONNX graph, as the gateway must find it after loading."""

    name: TensorName
    dtype: TensorDType
    shape: list[Annotated[int, Field(ge=0)] | DimName | None] = Field(
        max_length=8, description="a dimension is a size, a symbolic name ('batch'), or null"
    )


class IoSpec(ValueModel):
    """The graph's inputs and outputs; a loaded model that differs is refused."""

    inputs: list[TensorSpec] = Field(min_length=1, max_length=16)
    outputs: list[TensorSpec] = Field(min_length=1, max_length=16)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        for side, specs in (("inputs", self.inputs), ("outputs", self.outputs)):
            names = [spec.name for spec in specs]
            if len(set(names)) != len(names):
                raise ValueError(f"{side} names must be unique")
        return self


# The envelope's ``version`` is the event schema's version, so a model's own version is
# ``model_version`` throughout, and its name ``model`` (as in TrainingJobUpdate).


class ModelPublished(Event):
    """A new model version is in the models bucket, as ``{model}/{model_version}/model.onnx``
    with its ``manifest.json`` beside it. Readers verify sha256 and signature before loading."""

    EVENT_TYPE: ClassVar[str] = "model.published"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "model"

    model: ModelName
    model_version: SemVer
    artifact: MediaRef
    manifest: MediaRef
    sha256: Sha256Hex = Field(description="of the artifact; equals artifact.sha256")
    signature: Base64 = Field(max_length=2048, description="over the manifest, base64")
    io: IoSpec
    preprocessing: Identifier = Field(description="id of the core/biometrics preprocessing")
    validation_metrics: dict[Code, float] = Field(default_factory=dict, max_length=64)
    parent_version: SemVer | None = None
    training_job_id: Identifier | None = Field(
        default=None, description="None for a model imported rather than trained"
    )
    data_snapshot_id: Identifier | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # The layout is what lets a gateway find a version's files from its name alone, and the
        # checks keep one version's event from pointing at another version's files.
        expected_artifact = artifact_key(self.model, self.model_version)
        expected_manifest = manifest_key(self.model, self.model_version)
        if self.artifact.key != expected_artifact:
            raise ValueError(f"artifact key must be {expected_artifact!r}")
        if self.manifest.key != expected_manifest:
            raise ValueError(f"manifest key must be {expected_manifest!r}")
        if self.manifest.bucket != self.artifact.bucket:
            raise ValueError("artifact and manifest must be in the same bucket")
        if self.sha256 != self.artifact.sha256:
            raise ValueError("sha256 differs from artifact.sha256")
        if self.parent_version == self.model_version:
            raise ValueError("a version cannot be its own parent")
        return self


class ModelActivation(Event):
    """What one gateway instance did with a published version."""

    EVENT_TYPE: ClassVar[str] = "model.activation"
    EVENT_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str] = "model"

    model: ModelName
    model_version: SemVer
    status: ActivationStatus
    reason: Code | None = Field(
        default=None,
        description="why (e.g. signature_invalid, canary_regression, score_drift, manual); "
        "required unless activated",
    )
    detail: Text | None = None
    previous_version: SemVer | None = Field(
        default=None, description="the version active before (the rollback target)"
    )
    instance_id: Identifier = Field(description="the gateway instance reporting")

    @model_validator(mode="after")
    def _failure_says_why(self) -> Self:
        if self.status is not ActivationStatus.ACTIVATED and self.reason is None:
            raise ValueError(f"a {self.status} activation needs a reason")
        return self
