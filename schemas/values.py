"""Value objects shared by several events: media references and per-modality scores."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from schemas.fields import MODEL_CONFIG, Count, Score, Sha256Hex

# Bucket: S3's naming rules (3–63 chars, lowercase, digits, dots, hyphens). Key: printable ASCII
# without spaces, at most S3's 1024 bytes. Keys are built by our services, never from a client's
# file name, so the strict alphabet costs nothing and keeps paths safe to log and to map to disk.
_S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[!-~]{1,1024}$"

S3Uri = Annotated[str, StringConstraints(max_length=1100, pattern=_S3_URI_PATTERN)]

ContentType = Annotated[
    str,
    StringConstraints(
        max_length=127,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
    ),
]
"""A bare media type (``audio/wav``), without parameters."""


class ValueModel(BaseModel):
    """Base of the value objects nested in events (same strictness as the events)."""

    model_config = MODEL_CONFIG


class MediaRef(ValueModel):
    """A claim check: where a media or model file lives and how to verify it once fetched.

    Media never travels on Kafka; the reader downloads ``uri`` and must check ``sha256`` and
    ``size_bytes`` before trusting the bytes.
    """

    uri: S3Uri = Field(description="s3://bucket/key")
    sha256: Sha256Hex
    content_type: ContentType
    size_bytes: Count

    @field_validator("uri")
    @classmethod
    def _safe_key(cls, uri: str) -> str:
        key = uri.removeprefix("s3://").partition("/")[2]
        # Empty, "." and ".." segments and backslashes mean different objects to S3, to MinIO
        # and to a file system: refuse them rather than guess which one is meant.
        if "\\" in key or any(seg in {"", ".", ".."} for seg in key.split("/")):
            raise ValueError("object key must not contain empty, '.' or '..' segments or '\\'")
        return uri

    @classmethod
    def of(
        cls, bucket: str, key: str, *, sha256: str, content_type: str, size_bytes: int
    ) -> MediaRef:
        """Build a reference from its parts (validated like any other)."""
        return cls(
            uri=f"s3://{bucket}/{key}",
            sha256=sha256,
            content_type=content_type,
            size_bytes=size_bytes,
        )

    @property
    def bucket(self) -> str:
        return self.uri.removeprefix("s3://").partition("/")[0]

    @property
    def key(self) -> str:
        return self.uri.removeprefix("s3://").partition("/")[2]


class ModalityScore(ValueModel):
    """One modality's comparison of the sample with the claimed user's template."""

    raw: float = Field(description="the model's similarity (e.g. cosine), before calibration")
    calibrated: Score | None = Field(
        default=None,
        description="in [0, 1], from the calibration of this (modality, model version)",
    )
