"""The manifest beside every model artifact (``{name}/{version}/manifest.json``), signed.

It is the file contract between the publisher (LifeModo, ``kibalock models``) and every gateway.
The signature covers the canonical JSON of every field but ``signature`` itself, including the
artifact's sha256 and size and the version's operating point: a gateway that checks the
signature and then the bytes against that sha256 knows all of them came from the publisher.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, Self

from pydantic import Field, model_validator

from schemas.fields import (
    Base64,
    Code,
    Count,
    Identifier,
    ModelName,
    Score,
    SemVer,
    Sha256Hex,
    Text,
    UtcDatetime,
)
from schemas.model_catalog import ModelRef
from schemas.models import IoSpec, ModelPublished
from schemas.values import MediaRef, ValueModel


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The one byte spelling of a JSON document that is signed and verified."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


class ScoreCalibration(ValueModel):
    """A logistic map from a raw comparison score to P(genuine) at equal priors:
    ``sigmoid(slope * raw + intercept)``."""

    kind: Literal["logistic"] = "logistic"
    slope: float = Field(gt=0.0)
    intercept: float
    genuine_trials: Count = Field(ge=1)
    impostor_trials: Count = Field(ge=1)


class OperatingPoint(ValueModel):
    """How one model version's scores are read: its calibration and the calibrated score below
    which its modality counts as a mismatch, fitted on the data named in ``fitted_on``."""

    model: ModelRef = Field(description="the exact version these figures were fitted for")
    calibration: ScoreCalibration
    threshold: Score = Field(description="calibrated score below which it is a mismatch")
    fitted_on: Text = Field(min_length=1, description="the data set, identities and trials")


class SignerLike(Protocol):
    """What signs a manifest: an in-memory Ed25519 key today, a KMS or HSM later."""

    @property
    def key_id(self) -> str: ...

    def sign(self, payload: bytes) -> str: ...


class ParityCheck(ValueModel):
    """The exported ONNX graph against the framework it was trained in, on the same inputs."""

    framework: Identifier = Field(description="e.g. torch-2.15.0")
    samples: int = Field(ge=1)
    max_abs_diff: float = Field(ge=0.0)
    tolerance: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _within_tolerance(self) -> Self:
        if self.max_abs_diff > self.tolerance:
            raise ValueError(
                f"parity {self.max_abs_diff:.3g} exceeds its tolerance {self.tolerance:.3g}"
            )
        return self


class SelfSigned(ValueModel):
    """A document that carries its signer's key id and its own signature over the rest."""

    signed_by: str = Field(default="", max_length=64, description="key id of the signer")
    signature: Base64 | None = None

    def payload(self) -> bytes:
        """The bytes the signature is over."""
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def signed(self, signer: SignerLike) -> Self:
        unsigned = self.model_copy(update={"signed_by": signer.key_id, "signature": None})
        return unsigned.model_copy(update={"signature": signer.sign(unsigned.payload())})


class Manifest(SelfSigned):
    name: ModelName
    version: SemVer
    sha256: Sha256Hex = Field(description="of model.onnx")
    size_bytes: int = Field(ge=1)
    io: IoSpec
    preprocessing: Identifier
    operating_point: OperatingPoint | None = Field(
        default=None, description="required for models whose scores are compared (embedders)"
    )
    validation_metrics: dict[Code, float] = Field(default_factory=dict, max_length=64)
    parity: ParityCheck | None = Field(
        default=None, description="set by the trainer for every version it exports"
    )
    parent_version: SemVer | None = None
    training_job_id: Identifier | None = None
    data_snapshot_id: Identifier | None = None
    created_at: UtcDatetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(indent=2).encode()

    def published(self, producer: str, artifact: MediaRef, manifest: MediaRef) -> ModelPublished:
        """The ``models.published`` event announcing this (signed) manifest."""
        if self.signature is None:
            raise ValueError("sign the manifest before publishing it")
        return ModelPublished(
            producer=producer,
            model=self.name,
            model_version=self.version,
            artifact=artifact,
            manifest=manifest,
            sha256=artifact.sha256,
            signature=self.signature,
            io=self.io,
            preprocessing=self.preprocessing,
            validation_metrics=self.validation_metrics,
            parent_version=self.parent_version,
            training_job_id=self.training_job_id,
            data_snapshot_id=self.data_snapshot_id,
        )
