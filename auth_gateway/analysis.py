"""Runs the CPU-bound biometric engines off the event loop, with a bound on work in flight.

The engines (face, voice, spoken challenge) are loaded once per process. Calls go to a thread
pool (the models release the GIL in native code); a semaphore caps the attempts being analysed
at once, so a burst waits at the door instead of piling up memory and latency.

The swappable embedder adapters are not part of the engines: the caller passes the version
(:class:`core.registry.LoadedModel`) an attempt started with, and it is applied to the engine's
base embedding in the same worker call, so a hot-swap never changes a sample half-way.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from core.biometrics import audio, image
from core.biometrics.challenge import ChallengeChecker, ChallengeResult
from core.biometrics.face import FaceEngine, FaceSample
from core.biometrics.voice import VoiceEngine, VoiceSample
from core.registry import LoadedModel
from schemas.enums import Language
from schemas.model_catalog import Modality


class Analyser:
    def __init__(
        self,
        face: FaceEngine,
        voice: VoiceEngine,
        challenge: ChallengeChecker,
        *,
        workers: int,
        max_in_flight: int,
    ) -> None:
        self.face_engine = face
        self.voice_engine = voice
        self.challenge_checker = challenge
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="biometrics")
        self._slots = asyncio.Semaphore(max_in_flight)
        self.in_flight = 0

    @classmethod
    def load(cls, *, workers: int, max_in_flight: int) -> Analyser:
        return cls(
            FaceEngine(),
            VoiceEngine(),
            ChallengeChecker(),
            workers=workers,
            max_in_flight=max_in_flight,
        )

    async def _run(self, fn: Any, *args: Any) -> Any:
        async with self._slots:
            self.in_flight += 1
            try:
                return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
            finally:
                self.in_flight -= 1

    def header_problem(self, modality: Modality, data: bytes) -> str | None:
        """Why ``data`` cannot be analysed as ``modality``, read from its header alone with the
        engine's own limits (None: it may be); cheap enough to ask before storing an upload."""
        try:
            if modality is Modality.FACE:
                image.open_checked(data, self.face_engine.limits).close()
            else:
                audio.open_checked(data, self.voice_engine.limits).close()
        except (image.InvalidImage, audio.InvalidAudio) as exc:
            return str(exc)
        return None

    async def face(self, data: bytes, model: LoadedModel | None = None) -> FaceSample:
        result: FaceSample = await self._run(_adapted, self.face_engine.analyse, data, model)
        return result

    async def voice(self, data: bytes, model: LoadedModel | None = None) -> VoiceSample:
        result: VoiceSample = await self._run(_adapted, self.voice_engine.analyse, data, model)
        return result

    async def challenge(
        self,
        audio_16k: npt.NDArray[np.float32],
        expected: str,
        language: Language = Language.EN,
    ) -> ChallengeResult:
        result: ChallengeResult = await self._run(
            self.challenge_checker.check, audio_16k, expected, language
        )
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _adapted(analyse: Any, data: bytes, model: LoadedModel | None) -> Any:
    """The engine's sample, its embedding and version those of ``model`` (if given)."""
    sample = analyse(data)
    if model is None or sample.base_embedding is None:
        return sample
    return sample.model_copy(
        update={"embedding": model.embed(sample.base_embedding)[0], "version": model.version}
    )
