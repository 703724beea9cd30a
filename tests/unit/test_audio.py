"""Audio decoding, VAD and clip joining on the real test voices (8 kHz WAV)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

from core.biometrics import audio
from core.biometrics.audio import AudioLimits, InvalidAudio, decode_audio, join_clips


@pytest.fixture(scope="module")
def voices(data_dir: Path) -> Path:
    return data_dir / "voices"


def _encode(x: NDArray[np.float32], rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _reason(data: bytes, limits: AudioLimits | None = None) -> str:
    with pytest.raises(InvalidAudio) as info:
        decode_audio(data, limits or AudioLimits())
    return info.value.reason


def test_wav_is_decoded_to_16k_mono_float(voices: Path) -> None:
    path = voices / "4_george_0.wav"
    source, rate = sf.read(path, dtype="float32")
    assert rate == 8000
    x = decode_audio(path.read_bytes())
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == 2 * len(source)
    assert np.abs(x).max() <= 1.0
    # Resampling keeps the signal: same energy within a few percent.
    assert np.mean(x**2) == pytest.approx(np.mean(source**2), rel=0.05)


@pytest.mark.parametrize(("fmt", "subtype"), [("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_flac_and_ogg_are_accepted(voices: Path, fmt: str, subtype: str) -> None:
    source, rate = sf.read(voices / "7_lucas_3.wav", dtype="float32")
    x = decode_audio(_encode(source, rate, fmt, subtype))
    assert len(x) == pytest.approx(2 * len(source), abs=64)


def test_stereo_is_mixed_to_mono() -> None:
    t = np.arange(16_000) / 16_000
    left = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    x = decode_audio(_encode(np.stack([left, np.zeros_like(left)], axis=1), 16_000))
    assert x.shape == (16_000,)
    assert np.abs(x).max() == pytest.approx(0.25, abs=0.01)


def test_bad_bytes_raise_a_typed_reason(voices: Path) -> None:
    wav = (voices / "3_jackson_9.wav").read_bytes()
    assert _reason(b"") == "empty"
    assert _reason(b"this is not audio at all, just text\n" * 4) == "unsupported_format"
    assert _reason(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 200) == "unsupported_format"
    assert _reason(b"\xff\xfb\x90\x64" + b"\x00" * 400) == "unsupported_format"
    assert _reason(wav[: len(wav) // 2]) == "truncated"
    assert _reason(wav[:30]) == "truncated"
    assert _reason(wav, AudioLimits(max_bytes=1000)) == "too_large"
    assert _reason(wav, AudioLimits(max_seconds=0.1)) == "too_long"
    # A RIFF/WAVE header over garbage: libsndfile refuses the fmt chunk.
    garbage = b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt " + struct.pack("<I", 2) + b"xx"
    assert _reason(garbage + b"data" + struct.pack("<I", 0)) == "corrupt"


def test_unusable_sample_rates_and_values_are_refused() -> None:
    tone = np.full(4000, 0.1, dtype=np.float32)
    assert _reason(_encode(tone, 4000)) == "unsupported_rate"
    broken = tone.copy()
    broken[10] = np.nan
    assert _reason(_encode(broken, 16_000, subtype="FLOAT")) == "corrupt"
    assert _reason(_encode(tone[:0], 16_000)) == "empty"


def test_decoding_bombs_are_refused_from_the_header() -> None:
    # Audit finding 8: many channels, or a huge sample rate, decode to hundreds of MB.
    tone = np.full((1600, 8), 0.1, dtype=np.float32)
    assert _reason(_encode(tone, 16_000)) == "too_many_channels"
    assert _reason(_encode(tone[:, 0], 192_000)) == "unsupported_rate"


def test_vad_finds_speech_and_not_silence(voices: Path) -> None:
    speech = decode_audio((voices / "5_nicolas_1.wav").read_bytes())
    assert audio.speech_frames(speech).sum() >= 5
    rng = np.random.default_rng(0)
    quiet = (rng.normal(0, 1e-4, 16_000)).astype(np.float32)
    assert not audio.speech_frames(quiet).any()
    assert not audio.speech_frames(np.zeros(16_000, dtype=np.float32)).any()
    assert len(audio.trim_silence(np.zeros(16_000, dtype=np.float32))) == 0


def test_speech_runs_merge_short_gaps_and_drop_clicks() -> None:
    flags = np.array([0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0], dtype=bool)
    assert audio.speech_runs(flags) == [(1, 6), (11, 14)]
    assert audio.speech_runs(np.zeros(5, dtype=bool)) == []


def test_join_clips_builds_one_16bit_wav_with_gaps(voices: Path) -> None:
    clips = [(voices / f"{d}_george_{i}.wav").read_bytes() for d, i in ((4, 1), (7, 2), (1, 3))]
    joined = join_clips(clips, silence_ms=400)
    info = sf.info(io.BytesIO(joined))
    assert (info.format, info.subtype, info.samplerate, info.channels) == (
        "WAV",
        "PCM_16",
        16_000,
        1,
    )
    parts = [decode_audio(c) for c in clips]
    x = decode_audio(joined)
    gap = 6400  # 400 ms at 16 kHz
    assert len(x) == sum(map(len, parts)) + 2 * gap
    start = len(parts[0])
    assert np.all(x[start : start + gap] == 0.0)
    # Three digits, three speech runs.
    assert len(audio.speech_runs(audio.speech_frames(x))) == 3
    # Long pauses are trimmed to the padding kept around each run.
    assert len(audio.trim_silence(x)) < len(x) - gap


def test_join_clips_rejects_bad_input(voices: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        join_clips([])
    with pytest.raises(InvalidAudio):
        join_clips([(voices / "1_lucas_1.wav").read_bytes(), b"not audio"])
