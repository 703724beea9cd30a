"""Result types shared by the face and voice pipelines.

A sample that cannot be used is a *typed result* (``status`` + ``reason``), never an exception:
the gateway turns it into a decision with that reason.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from schemas.model_catalog import ModelRef


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


class AnalysedSample(BaseModel):
    """What an engine made of one sample; ``embedding`` is what templates are matched with.

    ``base_embedding`` is the base model's output, which a registry adapter takes; an engine
    sets ``embedding`` to it, and the gateway replaces ``embedding`` with the active adapter's
    output. The gateway stores the base so that a new adapter version can re-embed without the
    raw media.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    status: SampleStatus
    reason: str | None = None
    embedding: NDArray[np.float32] | None = None
    base_embedding: NDArray[np.float32] | None = None
    quality: Quality = Field(default_factory=lambda: Quality(score=0.0))
    model: str
    version: str
    preprocessing: str = Field(description="the catalog's id of the pipeline that made it")
    timing_ms: dict[str, float] = Field(default_factory=dict)

    @property
    def ref(self) -> ModelRef:
        """The model version whose embedding this is (templates are kept per version)."""
        return ModelRef(name=self.model, version=self.version)
