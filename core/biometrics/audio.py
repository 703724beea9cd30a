"""Audio in: decode uploaded bytes, bring them to 16 kHz mono, find the speech, join clips.

Every voice model here (Resemblyzer, whisper) works on 16 kHz mono float32 in [-1, 1], so that
is the one internal format. Terminals upload WAV, FLAC or Ogg (Vorbis/Opus); anything else —
including MP3, which libsndfile could decode — is refused, because the attack surface and the
quality of lossy 8-bit-era codecs are not something the engines should have to reason about.

Bad input raises :class:`InvalidAudio` with a short machine-readable ``reason``; the engines
catch it and return ``SampleStatus.INVALID_MEDIA`` with that reason (it never escapes them).
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from math import gcd

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import resample_poly

with warnings.catch_warnings():
    # webrtcvad 2.0.10 imports pkg_resources for nothing but a version string; its
    # deprecation warning would be printed by every command that touches audio.
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    import webrtcvad

SAMPLE_RATE = 16_000
# Below 8 kHz (telephone band) speech is not intelligible enough for either model.
MIN_SOURCE_RATE = 8_000

VAD_FRAME_MS = 30  # one of the three frame sizes webrtcvad accepts
VAD_FRAME = SAMPLE_RATE * VAD_FRAME_MS // 1000
# 2 of 4 is webrtcvad's middle ground: mode 3 drops the soft onsets of short digit words.
VAD_MODE = 2
# webrtcvad flags some low-level hiss as speech; a frame this quiet is never speech.
VAD_MIN_DBFS = -55.0
# Keep this much audio around each speech run so word onsets and tails survive trimming.
TRIM_PAD_MS = 90

_FORMATS = {"WAV", "FLAC", "OGG"}


@dataclass(frozen=True)
class AudioLimits:
    """What an upload may weigh; checked before decoding where the header allows."""

    max_seconds: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    # Decoding cost grows with both: a small FLAC of 8 channels at 655 kHz decodes to hundreds
    # of MB. Speech needs neither (it is resampled to 16 kHz mono anyway).
    max_channels: int = 2
    max_rate: int = 48_000


class InvalidAudio(ValueError):
    """The bytes are not usable audio; ``reason`` is a short code for the decision log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded upload: 16 kHz mono samples plus what only the source samples can tell."""

    audio: NDArray[np.float32]  # mono, SAMPLE_RATE
    source_rate: int
    # Measured before resampling: the low-pass of the resampler rounds off clipped plateaus.
    clipping_ratio: float


def _container(data: bytes) -> str:
    """The container named by the magic bytes; soundfile would otherwise also accept MP3 & co."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "WAV"
    if data[:4] == b"fLaC":
        return "FLAC"
    if data[:4] == b"OggS":
        return "OGG"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        raise InvalidAudio("unsupported_format", "MP3 is not accepted; send WAV, FLAC or Ogg")
    raise InvalidAudio("unsupported_format", "not a WAV, FLAC or Ogg file")


def _check_wav_complete(data: bytes) -> None:
    """Reject a WAV whose data chunk is shorter than its header says.

    libsndfile silently decodes whatever part of a cut-off upload arrived; a truncated sample
    must not be enrolled or verified as if it were whole.
    """
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF are what streaming writers leave when the length is unknown.
            if size not in (0, 0xFFFFFFFF) and pos + 8 + size > len(data):
                raise InvalidAudio(
                    "truncated", f"data chunk declares {size} bytes, {len(data) - pos - 8} present"
                )
            return
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    raise InvalidAudio("truncated", "no complete data chunk")


def _clipping_ratio(x: NDArray[np.float32]) -> float:
    """Share of the active samples that sit on the peak plateau.

    Relative to the peak rather than to full scale, so that audio clipped before a gain change
    (a common terminal path) is caught too. A clean recording touches its peak a handful of times.
    """
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0.0:
        return 0.0
    mag = np.abs(x)
    active = int(np.count_nonzero(mag > 0.1 * peak))
    return float(np.count_nonzero(mag >= 0.99 * peak)) / max(active, 1)


def resample(
    x: NDArray[np.float32], source_rate: int, target_rate: int = SAMPLE_RATE
) -> NDArray[np.float32]:
    if source_rate == target_rate:
        return x.astype(np.float32, copy=False)
    g = gcd(source_rate, target_rate)
    out: NDArray[np.float32] = resample_poly(x, target_rate // g, source_rate // g).astype(
        np.float32
    )
    return out


# What libsndfile raises on bytes it cannot read.
_UNREADABLE = (sf.LibsndfileError, RuntimeError, ValueError, EOFError)


def open_checked(data: bytes, limits: AudioLimits = AudioLimits()) -> sf.SoundFile:
    """``data`` opened from its header alone, its size, container, rate, channels and length
    checked (or :class:`InvalidAudio`); the caller closes it. Nothing is decoded, so refusing
    here costs next to nothing."""
    if not data:
        raise InvalidAudio("empty")
    if len(data) > limits.max_bytes:
        raise InvalidAudio("too_large", f"{len(data)} bytes > {limits.max_bytes}")
    container = _container(data)
    if container == "WAV":
        _check_wav_complete(data)
    try:
        f = sf.SoundFile(io.BytesIO(data))
    except _UNREADABLE as exc:
        raise InvalidAudio("corrupt", str(exc)) from exc
    try:
        _check_header(f, limits)
    except InvalidAudio:
        f.close()
        raise
    except _UNREADABLE as exc:
        f.close()
        raise InvalidAudio("corrupt", str(exc)) from exc
    return f


def _check_header(f: sf.SoundFile, limits: AudioLimits) -> None:
    if f.format not in _FORMATS:
        raise InvalidAudio("unsupported_format", f.format)
    rate = int(f.samplerate)
    if rate < MIN_SOURCE_RATE or rate > limits.max_rate:
        raise InvalidAudio("unsupported_rate", f"{rate} Hz")
    if f.channels > limits.max_channels:
        raise InvalidAudio("too_many_channels", f"{f.channels} > {limits.max_channels}")
    # A long file costs nothing: its length is in the header (decode bounds the read too).
    if f.frames > int(limits.max_seconds * rate):
        raise InvalidAudio("too_long", f"{f.frames / rate:.1f} s > {limits.max_seconds}")


def decode(data: bytes, limits: AudioLimits = AudioLimits()) -> DecodedAudio:
    """Decode WAV / FLAC / Ogg bytes to 16 kHz mono; raise :class:`InvalidAudio` otherwise."""
    with open_checked(data, limits) as f:
        rate = int(f.samplerate)
        max_frames = int(limits.max_seconds * rate)
        try:
            # Bounded: a compressed stream's header can understate its length.
            samples = f.read(frames=max_frames + 1, dtype="float32", always_2d=True)
        except _UNREADABLE as exc:
            raise InvalidAudio("corrupt", str(exc)) from exc
    if samples.shape[0] == 0:
        raise InvalidAudio("empty", "no samples")
    if samples.shape[0] > max_frames:
        raise InvalidAudio("too_long", f"more than {limits.max_seconds} s")
    if not np.all(np.isfinite(samples)):
        raise InvalidAudio("corrupt", "non-finite samples")
    mono = samples.mean(axis=1)
    return DecodedAudio(
        audio=np.clip(resample(mono, rate), -1.0, 1.0),
        source_rate=rate,
        clipping_ratio=_clipping_ratio(mono),
    )


def decode_audio(data: bytes, limits: AudioLimits = AudioLimits()) -> NDArray[np.float32]:
    """Decode WAV / FLAC / Ogg bytes to float32 mono samples at 16 kHz.

    Raises :class:`InvalidAudio` (with ``.reason``) for empty, truncated, oversized, too long or
    unsupported input.
    """
    return decode(data, limits).audio


def to_pcm16(x: NDArray[np.float32]) -> NDArray[np.int16]:
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def speech_frames(audio_16k: NDArray[np.float32]) -> NDArray[np.bool_]:
    """One boolean per 30 ms frame: does it hold speech (webrtcvad plus an energy floor)?"""
    n = len(audio_16k) // VAD_FRAME
    if n == 0:
        return np.zeros(0, dtype=bool)
    frames = audio_16k[: n * VAD_FRAME].reshape(n, VAD_FRAME)
    power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    loud = 10.0 * np.log10(power + 1e-12) > VAD_MIN_DBFS
    pcm = to_pcm16(frames)
    # A Vad holds per-stream state, so each call gets its own: safe from any thread.
    vad = webrtcvad.Vad(VAD_MODE)
    voiced = np.array([vad.is_speech(f.tobytes(), SAMPLE_RATE) for f in pcm], dtype=bool)
    flags: NDArray[np.bool_] = voiced & loud
    return flags


def speech_runs(
    flags: NDArray[np.bool_], *, min_gap_frames: int = 5, min_frames: int = 2
) -> list[tuple[int, int]]:
    """Speech runs as ``[start, end)`` frame ranges.

    Runs closer than ``min_gap_frames`` are one run (a stop consonant inside a word is a short
    gap); runs shorter than ``min_frames`` are clicks and dropped.
    """
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    runs: list[list[int]] = []
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if runs and start - runs[-1][1] < min_gap_frames:
            runs[-1][1] = int(end)
        else:
            runs.append([int(start), int(end)])
    return [(s, e) for s, e in runs if e - s >= min_frames]


def trim_silence(
    audio_16k: NDArray[np.float32], flags: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """Keep the speech runs (padded by ``TRIM_PAD_MS``), dropping the silence around and between.

    Returns an empty array when there is no speech at all.
    """
    flags = speech_frames(audio_16k) if flags is None else flags
    if not flags.any():
        return np.zeros(0, dtype=np.float32)
    pad = -(-TRIM_PAD_MS // VAD_FRAME_MS)
    # Dilate the speech mask so short pauses inside a word and the word edges stay in.
    kernel = np.ones(2 * pad + 1, dtype=bool)
    keep = np.convolve(flags, kernel, mode="same") > 0
    mask = np.repeat(keep, VAD_FRAME)
    return audio_16k[: len(mask)][mask].astype(np.float32, copy=False)


def encode_wav(audio_16k: NDArray[np.float32]) -> bytes:
    """16-bit PCM WAV at 16 kHz."""
    buf = io.BytesIO()
    sf.write(buf, to_pcm16(audio_16k), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def join_clips(clips: Sequence[bytes], silence_ms: int = 400) -> bytes:
    """Concatenate audio clips, ``silence_ms`` of silence between them, into one 16-bit WAV.

    This is how a spoken challenge ("4 7 1") is built from single-digit recordings. Each clip
    goes through :func:`decode_audio` (so a bad clip raises :class:`InvalidAudio`); the result
    is 16 kHz mono.
    """
    if not clips:
        raise ValueError("join_clips needs at least one clip")
    if silence_ms < 0:
        raise ValueError("silence_ms must be >= 0")
    gap = np.zeros(SAMPLE_RATE * silence_ms // 1000, dtype=np.float32)
    parts: list[NDArray[np.float32]] = []
    for i, clip in enumerate(clips):
        if i:
            parts.append(gap)
        parts.append(decode_audio(clip))
    return encode_wav(np.concatenate(parts))
