"""The voice pipeline: bytes → 16 kHz mono → speech only → Resemblyzer speaker embedding.

``VoiceEngine.analyse`` never raises for bad input: bytes that are not usable audio give
``SampleStatus.INVALID_MEDIA`` with the decoder's reason (see :mod:`core.biometrics.audio`), and
audio without speech ``SampleStatus.NO_SPEECH``. Missing weights are an operator error and raise
``MissingModelError`` (naming ``kibalock models fetch``) when the engine is built.

The embedding is Resemblyzer's GE2E d-vector (256-d, float32) of the speech frames only —
silence carries no speaker information and would pull templates towards each other — minus a
packaged *domain centre*, re-normalised to unit length. GE2E vectors are non-negative (the
encoder ends in a ReLU), so any two voices share a large common component and their cosines all
sit between ~0.6 and ~0.9; subtracting the mean voice of many other speakers leaves the part
that tells speakers apart. On 45 Arabic and Azerbaijani speakers, centring with a centre fitted
on the *other* half of them took the voice EER from 9.7 % to 1.8 % (4-digit challenges, three
4-digit enrolment utterances; ``voice_centre.json`` records what the packaged centre was fitted
on). The centre is part of the base pipeline (the catalog's ``preprocessing`` id says so), so
``embedding`` and ``base_embedding`` are that centred vector; a registry adapter
(:class:`core.registry.LoadedModel`) maps it to a newer version where one is active.
``audio_16k`` (not serialised) is the decoded audio the spoken-challenge check reuses.

Quality, in [0, 1], is the weighted geometric mean of five components, each in [0, 1]::

    score = duration^0.25 · speech^0.10 · snr^0.25 · clipping^0.20 · bandwidth^0.20

- ``duration``: seconds of speech (VAD) / 1.0 s, capped at 1 — a 3-digit challenge is ~1.2 s.
- ``speech``: share of 30 ms frames with speech / 0.4, capped at 1 (mostly silence is a poor
  sample even though trimming removes it).
- ``snr``: (SNR dB − 5) / 25, clipped — 5 dB or worse is 0, 30 dB or better is 1. The SNR is
  the mean power of the loudest half of 20 ms frames over that of the quietest tenth (the noise
  floor); a clip cut tight around the word therefore reads lower than it is.
- ``clipping``: 1 − (share of active source samples on the peak plateau) / 0.1.
- ``bandwidth``: the highest frequency within 50 dB of the strongest 250 Hz band of the speech
  spectrum, / 4 kHz, capped at 1 — 4 kHz is the full band of the 8 kHz telephone-rate audio
  the system must accept.

The geometric mean makes one unusable aspect (heavy clipping, a muffled channel) sink the
score, which an arithmetic mean would average away. ``Quality.components`` holds the five
sub-scores and the raw measurements they come from, in physical units (the ``auth.quality``
event reports those): ``duration_s`` (whole recording), ``speech_s``, ``speech_ratio``,
``snr_db``, ``clipping_ratio``, ``bandwidth_hz``.

Thread safety: ``analyse`` may be called from a thread pool. Decoding, VAD and quality share
nothing. The torch module is only read, but each forward already uses every intra-op thread,
so one engine serialises the embedder with a lock rather than oversubscribe the cores.
"""

from __future__ import annotations

import threading
import warnings
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from core.biometrics import audio, model_files
from core.biometrics.model_files import (
    MissingModelError,
    file_sha256,
    install_file,
    require,
    require_pinned,
)
from core.biometrics.stopwatch import Stopwatch
from core.biometrics.types import AnalysedSample, Quality, SampleStatus
from core.biometrics.vectors import l2_normalise
from schemas.model_catalog import BASE_VERSION, VOICE_EMBEDDER, model_spec

__all__ = [
    "DomainCentre",
    "VoiceEngine",
    "VoiceSample",
    "apply_centre",
    "fetch_models",
    "fit_centre",
    "load_centre",
    "voice_quality",
]

# The packaged Resemblyzer GE2E encoder is version BASE_VERSION of the catalog's voice embedder.
SPEC = model_spec(VOICE_EMBEDDER)
EMBEDDING_DIM = 256
RESEMBLYZER_SUBDIR = "resemblyzer"
WEIGHTS_FILE = "pretrained.pt"
# sha256 of the pretrained.pt shipped in resemblyzer 0.1.4 (the only release).
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
# The packaged domain centre (see the module docstring).
CENTRE_FILE = Path(__file__).with_name("voice_centre.json")
# Fewer voiced frames than this (90 ms) is a click or a breath, not speech.
MIN_SPEECH_FRAMES = 3
# Resemblyzer's training-time loudness; quieter speech is raised to it (never lowered).
TARGET_DBFS = -30.0

_QUALITY_WEIGHTS = {
    "duration": 0.25,
    "speech": 0.10,
    "snr": 0.25,
    "clipping": 0.20,
    "bandwidth": 0.20,
}
_SNR_FRAME = 320  # 20 ms at 16 kHz
_BAND_HZ = 250


class VoiceSample(AnalysedSample):
    """The outcome of one recording."""

    model: str = SPEC.name
    version: str = BASE_VERSION
    preprocessing: str = SPEC.preprocessing
    # Decoded once here and reused by the challenge check; never serialised.
    audio_16k: NDArray[np.float32] | None = Field(default=None, exclude=True, repr=False)


class DomainCentre(BaseModel):
    """The mean raw GE2E vector subtracted from every voice embedding, and where it came from."""

    model_config = ConfigDict(frozen=True)

    fitted_on: str = Field(description="data set and speakers the centre is the mean of")
    speakers: int = Field(ge=1)
    utterances: int = Field(ge=1)
    centre: list[float] = Field(min_length=EMBEDDING_DIM, max_length=EMBEDDING_DIM)

    def vector(self) -> NDArray[np.float32]:
        return np.asarray(self.centre, dtype=np.float32)


def load_centre(path: Path = CENTRE_FILE) -> DomainCentre:
    return DomainCentre.model_validate_json(path.read_bytes())


def fit_centre(raw: NDArray[np.floating], speakers: list[str]) -> NDArray[np.float32]:
    """The speaker-balanced mean of raw (uncentred, unit) GE2E vectors, one row per utterance.

    Each speaker weighs the same however many utterances they gave, so that a talkative speaker
    does not become the "average voice" the others are measured against.
    """
    if len(raw) != len(speakers) or not speakers:
        raise ValueError("one speaker label per embedding, and at least one embedding")
    labels = np.asarray(speakers)
    means = np.stack([raw[labels == s].mean(axis=0) for s in sorted(set(speakers))])
    centre: NDArray[np.float32] = means.mean(axis=0).astype(np.float32)
    return centre


def apply_centre(raw: NDArray[np.floating], centre: NDArray[np.float32]) -> NDArray[np.float32]:
    """The embedding(s) of raw GE2E vector(s) ``raw`` (rows): unit-length ``unit(raw) − centre``.

    An evaluation that must not score speakers the centre was fitted on embeds once with a zero
    centre and applies a centre fitted on the other speakers here.
    """
    return l2_normalise(l2_normalise(raw, np.float32) - centre, np.float32)


class VoiceEngine:
    """``centre``: the domain centre to subtract (the packaged one by default; zeros give the
    raw GE2E vector, which is what :func:`fit_centre` takes)."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        limits: audio.AudioLimits | None = None,
        centre: NDArray[np.float32] | None = None,
    ) -> None:
        base = models_dir if models_dir is not None else model_files.models_dir()
        weights = require_pinned(
            base / RESEMBLYZER_SUBDIR / WEIGHTS_FILE,
            WEIGHTS_SHA256,
            "voice embedder weights (Resemblyzer)",
        )
        # Imported here so that importing this module (e.g. for fetch_models) stays light.
        import torch

        with warnings.catch_warnings():
            # Resemblyzer imports a scipy.ndimage alias that scipy deprecates; not ours to fix.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            from resemblyzer import VoiceEncoder

        self._torch = torch
        self._encoder = VoiceEncoder(device="cpu", verbose=False, weights_fpath=weights)
        self._encoder.eval()
        self._lock = threading.Lock()
        self.limits = limits or audio.AudioLimits()
        self._centre = load_centre().vector() if centre is None else centre.astype(np.float32)
        if self._centre.shape != (EMBEDDING_DIM,):
            raise ValueError(f"the voice centre must have {EMBEDDING_DIM} values")

    def analyse(self, data: bytes) -> VoiceSample:
        watch = Stopwatch()
        try:
            decoded = audio.decode(data, self.limits)
        except audio.InvalidAudio as exc:
            watch.lap("decode")
            return VoiceSample(
                status=SampleStatus.INVALID_MEDIA, reason=exc.reason, timing_ms=watch.timings()
            )
        flags = audio.speech_frames(decoded.audio)
        watch.lap("decode")
        if int(flags.sum()) < MIN_SPEECH_FRAMES:
            # Scored anyway: the quality report of a failed attempt still says what was wrong.
            return VoiceSample(
                status=SampleStatus.NO_SPEECH,
                reason="no_speech",
                quality=voice_quality(decoded.audio, flags, decoded.clipping_ratio),
                timing_ms=watch.timings(),
                audio_16k=decoded.audio,
            )

        speech = _raise_to(audio.trim_silence(decoded.audio, flags), TARGET_DBFS)
        with self._lock, self._torch.inference_mode():
            embedded = np.asarray(self._encoder.embed_utterance(speech), dtype=np.float32)
        base = apply_centre(embedded, self._centre)
        watch.lap("embed")

        quality = voice_quality(decoded.audio, flags, decoded.clipping_ratio)
        watch.lap("quality")
        return VoiceSample(
            status=SampleStatus.OK,
            embedding=base,
            base_embedding=base,
            quality=quality,
            timing_ms=watch.timings(),
            audio_16k=decoded.audio,
        )


def voice_quality(
    audio_16k: NDArray[np.float32], flags: NDArray[np.bool_], clipping_ratio: float
) -> Quality:
    """Quality of a decoded recording (formula in the module docstring)."""
    speech_s = float(flags.sum()) * audio.VAD_FRAME_MS / 1000.0
    ratio = float(flags.mean()) if flags.size else 0.0
    snr_db = _snr_db(audio_16k)
    edge_hz = _bandwidth_hz(audio_16k, flags)
    components = {
        "duration": _unit(speech_s / 1.0),
        "speech": _unit(ratio / 0.4),
        "snr": _unit((snr_db - 5.0) / 25.0),
        "clipping": _unit(1.0 - clipping_ratio / 0.1),
        "bandwidth": _unit(edge_hz / 4000.0),
    }
    log_score = sum(w * np.log(max(components[k], 1e-9)) for k, w in _QUALITY_WEIGHTS.items())
    score = 0.0 if min(components.values()) == 0.0 else float(np.exp(log_score))
    raw = {
        "duration_s": round(len(audio_16k) / audio.SAMPLE_RATE, 3),
        "speech_s": round(speech_s, 3),
        "speech_ratio": round(ratio, 4),
        "snr_db": round(snr_db, 1),
        "clipping_ratio": round(clipping_ratio, 4),
        "bandwidth_hz": edge_hz,
    }
    return Quality(
        score=round(_unit(score), 4),
        components={k: round(v, 4) for k, v in components.items()} | raw,
    )


def _snr_db(x: NDArray[np.float32]) -> float:
    n = len(x) // _SNR_FRAME
    if n < 2:
        return 0.0
    power = np.sort(np.mean(x[: n * _SNR_FRAME].reshape(n, _SNR_FRAME).astype(np.float64) ** 2, 1))
    noise = float(power[: max(1, n // 10)].mean()) + 1e-10
    signal = float(power[n // 2 :].mean())
    return float(np.clip(10.0 * np.log10(max(signal - noise, 1e-10) / noise), -20.0, 90.0))


def _bandwidth_hz(x: NDArray[np.float32], flags: NDArray[np.bool_]) -> float:
    frame = audio.VAD_FRAME
    frames = x[: len(flags) * frame].reshape(len(flags), frame)[flags]
    if frames.shape[0] == 0:
        return 0.0
    spectrum = (np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2).mean(axis=0)
    freqs = np.fft.rfftfreq(frame, 1.0 / audio.SAMPLE_RATE)
    band = (freqs // _BAND_HZ).astype(int)
    levels = 10.0 * np.log10(np.bincount(band, spectrum) / np.bincount(band) + 1e-20)
    strong = np.nonzero(levels >= levels.max() - 50.0)[0]
    return float((strong.max() + 1) * _BAND_HZ)


def _unit(v: float) -> float:
    return float(min(max(v, 0.0), 1.0))


def _raise_to(x: NDArray[np.float32], dbfs: float) -> NDArray[np.float32]:
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    gain = 10.0 ** (dbfs / 20.0) / max(rms, 1e-9)
    return (x * gain).astype(np.float32) if gain > 1.0 else x


def fetch_models(models_dir: Path) -> list[Path]:
    """Copy Resemblyzer's packaged ``pretrained.pt`` into ``models_dir/resemblyzer/``.

    The engine then loads from the model dir like every other model. Idempotent; the file is
    checked against its pinned sha256 and written atomically (temp file + rename).
    """
    spec = find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(
            "the resemblyzer package (pip install resemblyzer)", Path("resemblyzer")
        )
    source = require(
        Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE,
        "Resemblyzer's packaged pretrained.pt",
    )
    target = models_dir / RESEMBLYZER_SUBDIR / WEIGHTS_FILE
    if target.is_file() and file_sha256(target) == WEIGHTS_SHA256:
        return [target]
    if file_sha256(source) != WEIGHTS_SHA256:
        raise ValueError(f"{source}: sha256 differs from the pinned Resemblyzer weights")
    install_file([source], target, WEIGHTS_SHA256)
    return [target]
