"""What the evaluation needs from the engines, and the production engines that provide it.

The face, voice and challenge modules satisfy these protocols; tests pass stand-ins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from core.biometrics.types import SampleStatus
from schemas.enums import Language


class SampleOutcome(Protocol):
    """What an engine made of one sample (:class:`core.biometrics.types.AnalysedSample` fits)."""

    @property
    def status(self) -> SampleStatus: ...
    @property
    def embedding(self) -> npt.NDArray[Any] | None: ...
    @property
    def model(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def timing_ms(self) -> Mapping[str, float]: ...


class VoiceOutcome(SampleOutcome, Protocol):
    @property
    def audio_16k(self) -> npt.NDArray[Any] | None: ...


class ChallengeOutcome(Protocol):
    @property
    def passed(self) -> bool: ...
    @property
    def heard(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def timing_ms(self) -> Mapping[str, float]: ...


class FaceAnalyser(Protocol):
    def analyse(self, data: bytes) -> SampleOutcome: ...


class VoiceAnalyser(Protocol):
    def analyse(self, data: bytes) -> VoiceOutcome: ...


class ChallengeVerifier(Protocol):
    def check(
        self, audio_16k: npt.NDArray[Any], expected: str, language: Language = ...
    ) -> ChallengeOutcome: ...


class ModelInfo(BaseModel):
    model: str
    version: str


@dataclass(frozen=True)
class Engines:
    face: FaceAnalyser
    voice: VoiceAnalyser
    challenge: ChallengeVerifier
    asr_model: ModelInfo


def load_engines(models_dir: Path | None = None, *, raw_voice: bool = False) -> Engines:
    """The production engines, reading weights from ``models_dir`` (default: configured dir).

    ``raw_voice``: voice embeddings without the packaged domain centre, for an evaluation that
    fits its own centre on each fold's speakers."""
    # Imported here, not at the top: they pull in dlib, torch and ctranslate2, which tests with
    # stand-in engines (and ``kibalock --help``) should not pay for.
    from core.biometrics.challenge import ChallengeChecker
    from core.biometrics.face import FaceEngine
    from core.biometrics.voice import EMBEDDING_DIM, VoiceEngine

    checker = ChallengeChecker(models_dir)
    return Engines(
        face=FaceEngine(models_dir),
        voice=VoiceEngine(models_dir, centre=np.zeros(EMBEDDING_DIM, np.float32))
        if raw_voice
        else VoiceEngine(models_dir),
        challenge=checker,
        asr_model=ModelInfo(model=checker.ref.name, version=checker.ref.version),
    )
