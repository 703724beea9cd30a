"""Constrained field types: the building blocks every event is validated with.

Events cross trust boundaries (a login terminal is not trusted, and a bug anywhere can emit
garbage), and what they carry ends up in MongoDB, object-store paths, dashboards and training
data. So every string is bounded, identifiers use a small character set, scores are in range
and no float may be NaN or infinite.

Patterns are written for both engines that read them: pydantic-core's Rust regex (validation)
and ECMAScript (the exported JSON Schema). Hence ``[0-9]`` rather than ``\\d`` (Unicode digits
in Rust) and no look-arounds.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, StringConstraints

# Shared by events and the value objects inside them: immutable (events are facts), no unknown
# fields (a typo must fail loudly, not vanish), and no NaN/inf (JSON cannot carry them).
MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

# Kafka offsets, byte sizes and counters are 64-bit on the Java side and in MongoDB.
INT64_MAX = 2**63 - 1

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*$"),
]
"""An id (user, terminal, attempt, job…): safe in keys, log lines and object-store paths."""

Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
"""A machine-readable code (``"face_mismatch"``), stable enough for dashboards to group by."""

ModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")
]
"""A model's name (``"face-embedder"``); it is a path segment in the models bucket."""

SemVer = Annotated[
    str,
    StringConstraints(
        max_length=64,
        # semver.org's regular expression, with [0-9] for \d.
        pattern=(
            r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
            r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
            r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
            r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
        ),
    ),
]
"""A semantic version (``"1.4.0"``, ``"2.0.0-rc.1"``)."""

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest as 64 lowercase hex digits (one spelling, so digests compare as strings)."""

TEXT_MAX_LENGTH = 2000
ShortText = Annotated[str, StringConstraints(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX_LENGTH)]

Score = Annotated[float, Field(ge=0.0, le=1.0)]
"""A probability-like figure in [0, 1]: calibrated scores, qualities, rates."""

Count = Annotated[int, Field(ge=0, le=INT64_MAX)]


def _to_utc(value: datetime) -> datetime:
    # One offset on the wire: events compare and sort as written, whoever produced them.
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC; naive datetimes are rejected."""


def _check_base64(value: str) -> str:
    if len(value) % 4:
        raise ValueError("base64 text must be padded to a multiple of 4 characters")
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not standard base64: {exc}") from exc
    return value


Base64 = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$"),
    AfterValidator(_check_base64),
]
"""Bytes as standard, padded base64 (RFC 4648 §4)."""
