"""A per-user model's signed manifest (``models`` bucket, ``personal/…``).

A personal model lives in the embedding space of one shared version (``for_version``): the
gateway uses it only while that version is active for the user's modality, and checks this
signature and the artifact's sha256 exactly as it does for a shared version.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field

from schemas.fields import Code, Identifier, ModelName, SemVer, Sha256Hex, UtcDatetime
from schemas.manifest import ParityCheck, SelfSigned
from schemas.model_catalog import VOICE_EMBEDDER

# The shared models a user may have a personal model of (the processors' personalisation
# trigger names the voice embedder).
PERSONALISED = (VOICE_EMBEDDER,)


class PersonalManifest(SelfSigned):
    model: ModelName = Field(description="the shared model it personalises")
    user_id: Identifier
    version: SemVer = Field(description="this personal model's version, per user")
    for_version: SemVer = Field(description="the shared version whose embeddings it scores")
    sha256: Sha256Hex = Field(description="of model.onnx")
    size_bytes: int = Field(ge=1)
    conditions: list[Identifier] = Field(max_length=16, description="one per prototype")
    parity: ParityCheck
    validation_metrics: dict[Code, float] = Field(default_factory=dict, max_length=64)
    training_job_id: Identifier
    data_snapshot_id: Identifier | None = None
    created_at: UtcDatetime = Field(default_factory=lambda: datetime.now(UTC))


def personal_prefix(user_id: str) -> str:
    """Every personal model of one user in the ``models`` bucket (erasure deletes it)."""
    return f"personal/{user_id}/"


def personal_key(user_id: str, model: str, version: str, file: str) -> str:
    return f"{personal_prefix(user_id)}{model}/{version}/{file}"


def personal_record_id(model: str, user_id: str) -> str:
    """``_id`` of the user's current personal model of ``model`` (``personal_models``)."""
    return f"{model}/{user_id}"
