"""The models KibaLock serves and LifeModo trains: one spelling per name, and what each one is.

Every room names a model through these constants (never a string literal), and a version
through :class:`ModelRef` (``name@version``), so a retrain trigger, a decision, a template key
and a registry record always agree on which model they mean.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator

from schemas.fields import Identifier, ModelName, SemVer
from schemas.values import ValueModel

FACE_EMBEDDER = "face-embedder"
VOICE_EMBEDDER = "voice-embedder"
FACE_DETECTOR = "face-detector"
SPEECH_RECOGNISER = "speech-recogniser"

# The packaged base weights of every model are version 1.0.0 (the offline default).
BASE_VERSION = "1.0.0"


class ModelKind(StrEnum):
    EMBEDDER_ADAPTER = "embedder-adapter"  # base embedding [N, d_in] -> embedding [N, D]
    DETECTOR = "detector"  # image -> face boxes
    RECOGNISER = "recogniser"  # speech -> digits


class Modality(StrEnum):
    FACE = "face"
    VOICE = "voice"


class ModelSpec(ValueModel):
    """What a model is: enough for a loader, a canary and a trainer to know how to treat it."""

    name: ModelName
    kind: ModelKind
    modality: Modality
    trainable: bool = Field(description="LifeModo publishes new versions of it")
    preprocessing: Identifier = Field(
        description="id of the core/biometrics pipeline that makes this model's input"
    )
    input_dim: int | None = Field(
        default=None, ge=1, description="width of the base embedding an adapter takes"
    )

    @model_validator(mode="after")
    def _adapters_have_a_width(self) -> Self:
        if self.kind is ModelKind.EMBEDDER_ADAPTER and self.input_dim is None:
            raise ValueError(f"{self.name}: an embedder adapter declares its input_dim")
        return self

    @property
    def width(self) -> int:
        """The base embedding's width (embedder adapters only)."""
        if self.input_dim is None:
            raise ValueError(f"{self.name} takes no base embedding")
        return self.input_dim

    @property
    def scored(self) -> bool:
        """Its outputs are compared with templates, so each version needs a calibration."""
        return self.kind is ModelKind.EMBEDDER_ADAPTER


MODEL_CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # dlib HOG detection (MMOD CNN where HOG finds none), 5-point alignment, 150 px chip,
        # Dlib ResNet on the chip and its mirror image, descriptors averaged: 128-d. The chip is
        # defined by the landmarks, not the detector's box.
        ModelSpec(
            name=FACE_EMBEDDER,
            kind=ModelKind.EMBEDDER_ADAPTER,
            modality=Modality.FACE,
            trainable=True,
            preprocessing="face-dlib5-chip150-flip1",
            input_dim=128,
        ),
        # 16 kHz mono, voice-activity trimming, Resemblyzer GE2E minus the packaged domain
        # centre (core/biometrics/voice_centre.json), re-normalised: 256-d.
        ModelSpec(
            name=VOICE_EMBEDDER,
            kind=ModelKind.EMBEDDER_ADAPTER,
            modality=Modality.VOICE,
            trainable=True,
            preprocessing="voice-ge2e-16k-centred1",
            input_dim=256,
        ),
        ModelSpec(
            name=FACE_DETECTOR,
            kind=ModelKind.DETECTOR,
            modality=Modality.FACE,
            trainable=True,
            preprocessing="face-rgb-image",
        ),
        # faster-whisper over the same 16 kHz audio; digits only, not retrained.
        ModelSpec(
            name=SPEECH_RECOGNISER,
            kind=ModelKind.RECOGNISER,
            modality=Modality.VOICE,
            trainable=False,
            preprocessing="voice-16k",
        ),
    )
}


class UnknownModel(KeyError):
    """A name that is not in :data:`MODEL_CATALOG`."""


def model_spec(name: str) -> ModelSpec:
    try:
        return MODEL_CATALOG[name]
    except KeyError:
        raise UnknownModel(name) from None


def embedder_for(modality: Modality | str) -> ModelSpec:
    """The embedder adapter that serves ``modality``."""
    for spec in MODEL_CATALOG.values():
        if spec.kind is ModelKind.EMBEDDER_ADAPTER and spec.modality == modality:
            return spec
    raise UnknownModel(f"no embedder for {modality}")


class ModelRef(ValueModel):
    """One version of one model; written ``name@version`` wherever it is a string."""

    name: ModelName
    version: SemVer

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def parse(cls, text: str) -> Self:
        name, sep, version = text.partition("@")
        if not sep:
            raise ValueError(f"{text!r} is not name@version")
        return cls(name=name, version=version)
