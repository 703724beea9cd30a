"""The manifest beside every model artifact (``{name}/{version}/manifest.json``), signed.

The signature covers the canonical JSON of every field but ``signature`` itself, including the
artifact's sha256 and size: a gateway that checks the signature and then the bytes against that
sha256 knows both came from the publisher.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from core.signing import Signer, TrustedKeys, canonical_json
from schemas import IoSpec, MediaRef, ModelPublished
from schemas.fields import Base64, Code, Identifier, ModelName, SemVer, Sha256Hex, UtcDatetime
from schemas.models import ARTIFACT_FILE, MANIFEST_FILE


def artifact_key(name: str, version: str) -> str:
    return f"{name}/{version}/{ARTIFACT_FILE}"


def manifest_key(name: str, version: str) -> str:
    return f"{name}/{version}/{MANIFEST_FILE}"


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: ModelName
    version: SemVer
    sha256: Sha256Hex = Field(description="of model.onnx")
    size_bytes: int = Field(ge=1)
    io: IoSpec
    preprocessing: Identifier
    validation_metrics: dict[Code, float] = Field(default_factory=dict)
    parent_version: SemVer | None = None
    training_job_id: Identifier | None = None
    data_snapshot_id: Identifier | None = None
    created_at: UtcDatetime = Field(default_factory=lambda: datetime.now(UTC))
    signed_by: str = Field(default="", max_length=64, description="key id of the signer")
    signature: Base64 | None = None

    def payload(self) -> bytes:
        """The bytes the signature is over."""
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def signed(self, signer: Signer) -> Self:
        unsigned = self.model_copy(update={"signed_by": signer.key_id, "signature": None})
        return unsigned.model_copy(update={"signature": signer.sign(unsigned.payload())})

    def verify(self, trust: TrustedKeys) -> None:
        """Raises a ``SigningError`` unless a trusted key signed exactly these fields."""
        trust.verify(self.payload(), self.signature, self.signed_by)

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
