"""Result types shared by the face and voice pipelines.

A sample that cannot be used is a *typed result* (``status`` + ``reason``), never an exception:
the gateway turns it into a decision with that reason.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class SampleStatus(StrEnum):
    OK = "ok"
    INVALID_MEDIA = "invalid_media"  # not an image / audio, empty, truncated, oversized
    NO_FACE = "no_face"
    NO_SPEECH = "no_speech"


class Quality(BaseModel):
    """Quality in [0, 1] with the components it was computed from (all documented per modality)."""

    model_config = ConfigDict(frozen=True)

    score: float = Field(ge=0.0, le=1.0)
    components: dict[str, float] = Field(default_factory=dict)
