"""Voice pipeline on the real test voices, degraded and broken by the tests themselves."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

from bench.support.onnx_build import linear_adapter
from core.biometrics.audio import AudioLimits, decode_audio, join_clips
from core.biometrics.model_files import FETCH_COMMAND, MissingModelError, file_sha256
from core.biometrics.types import SampleStatus
from core.biometrics.voice import (
    EMBEDDING_DIM,
    WEIGHTS_SHA256,
    VoiceEngine,
    VoiceSample,
    apply_centre,
    fit_centre,
    load_centre,
)
from core.biometrics.voice import fetch_models as fetch_voice_models
from core.registry import load_adapter
from schemas.model_catalog import BASE_VERSION
from tests.registry_kit import manifest_for

SPEAKERS = ("george", "jackson", "lucas", "nicolas")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models")
    fetch_voice_models(path)
    return path


@pytest.fixture(scope="module")
def engine(models: Path) -> VoiceEngine:
    return VoiceEngine(models)


@pytest.fixture(scope="module")
def voices(data_dir: Path) -> Path:
    return data_dir / "voices"


def _challenge(voices: Path, speaker: str, digits: str, first_index: int) -> bytes:
    clips = [voices / f"{d}_{speaker}_{first_index + i}.wav" for i, d in enumerate(digits)]
    return join_clips([c.read_bytes() for c in clips])


def _wav(x: NDArray[np.float32]) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0), 16_000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _ok(sample: VoiceSample) -> VoiceSample:
    assert sample.status is SampleStatus.OK, sample.reason
    return sample


def _cos(a: VoiceSample, b: VoiceSample) -> float:
    assert a.embedding is not None and b.embedding is not None
    return float(a.embedding @ b.embedding)


def test_fetch_installs_the_pinned_weights_idempotently(models: Path) -> None:
    (weights,) = fetch_voice_models(models)
    assert weights == models / "resemblyzer" / "pretrained.pt"
    assert file_sha256(weights) == WEIGHTS_SHA256
    mtime = weights.stat().st_mtime_ns
    assert fetch_voice_models(models) == [weights]
    assert weights.stat().st_mtime_ns == mtime


def test_missing_weights_name_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(MissingModelError, match=FETCH_COMMAND):
        VoiceEngine(tmp_path)


def test_a_challenge_gives_a_unit_embedding(engine: VoiceEngine, voices: Path) -> None:
    data = _challenge(voices, "george", "471", 0)
    sample = _ok(engine.analyse(data))
    assert sample.embedding is not None and sample.base_embedding is not None
    assert sample.embedding.dtype == np.float32 and sample.embedding.shape == (256,)
    assert np.linalg.norm(sample.embedding) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(sample.embedding, sample.base_embedding)
    assert (sample.model, sample.version) == ("voice-embedder", BASE_VERSION)
    assert {"decode", "embed", "total"} <= sample.timing_ms.keys()
    assert sample.audio_16k is not None
    np.testing.assert_array_equal(sample.audio_16k, decode_audio(data))
    assert "audio_16k" not in sample.model_dump()
    assert 0.9 < sample.quality.score <= 1.0
    # The raw measurements the auth.quality event reports, in physical units.
    c = sample.quality.components
    assert {"duration_s", "speech_ratio", "snr_db", "clipping_ratio"} <= c.keys()
    assert 1.5 < c["duration_s"] < 3.0 and 0.0 < c["speech_ratio"] <= 1.0


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda wav: b"", "empty"),
        (lambda wav: b"hello, I am a text file\n" * 10, "unsupported_format"),
        (lambda wav: b"ID3\x03\x00\x00\x00\x00\x0f\x76" + b"\xff\xfb" * 300, "unsupported_format"),
        (lambda wav: wav[: len(wav) - 500], "truncated"),
    ],
    ids=["empty", "text", "mp3", "truncated"],
)
def test_bad_input_is_invalid_media_not_an_exception(
    engine: VoiceEngine, voices: Path, make: object, reason: str
) -> None:
    wav = (voices / "2_lucas_4.wav").read_bytes()
    sample = engine.analyse(make(wav))  # type: ignore[operator]
    assert sample.status is SampleStatus.INVALID_MEDIA
    assert sample.reason == reason
    assert sample.embedding is None and sample.quality.score == 0.0


def test_limits_are_configurable(models: Path, voices: Path) -> None:
    strict = VoiceEngine(models, limits=AudioLimits(max_seconds=1.0))
    sample = strict.analyse(_challenge(voices, "george", "123", 0))
    assert (sample.status, sample.reason) == (SampleStatus.INVALID_MEDIA, "too_long")


def test_silence_is_no_speech(engine: VoiceEngine) -> None:
    rng = np.random.default_rng(1)
    for x in (np.zeros(32_000), rng.normal(0, 3e-4, 32_000)):
        sample = engine.analyse(_wav(x.astype(np.float32)))
        assert sample.status is SampleStatus.NO_SPEECH
        assert sample.reason == "no_speech" and sample.embedding is None
        assert sample.quality.score == 0.0
        assert sample.quality.components["duration_s"] == pytest.approx(2.0)


def test_quality_ranks_the_clean_clip_first(engine: VoiceEngine, voices: Path) -> None:
    clean = decode_audio(_challenge(voices, "jackson", "582", 3))
    clean = clean / np.abs(clean).max() * 0.5
    rng = np.random.default_rng(2)
    rms = float(np.sqrt(np.mean(clean**2)))
    spectrum = np.fft.rfft(clean)
    spectrum[np.fft.rfftfreq(len(clean), 1 / 16_000) > 1500] = 0
    first_speech = int(np.argmax(np.abs(clean) > 0.05))
    degraded = {
        "noisy": clean + rng.normal(0, rms / 3.16, len(clean)),  # 10 dB SNR
        "clipped": np.clip(clean * 6, -1.0, 1.0),
        "band_limited": np.fft.irfft(spectrum, len(clean)),
        "very_short": clean[first_speech : first_speech + 4000],  # 0.25 s
    }
    base = _ok(engine.analyse(_wav(clean))).quality
    for name, x in degraded.items():
        q = _ok(engine.analyse(_wav(x.astype(np.float32)))).quality
        assert q.score < base.score - 0.1, (name, q, base)
    clipped = _ok(engine.analyse(_wav(degraded["clipped"].astype(np.float32)))).quality
    assert clipped.components["clipping"] < 0.5 < base.components["clipping"]
    assert clipped.components["clipping_ratio"] > 0.05


def test_same_speaker_scores_above_other_speakers(engine: VoiceEngine, voices: Path) -> None:
    # Two challenges per speaker from disjoint clips (indices 0-3 vs 4-7).
    first = {s: _ok(engine.analyse(_challenge(voices, s, "3196", 0))) for s in SPEAKERS}
    second = {s: _ok(engine.analyse(_challenge(voices, s, "8054", 4))) for s in SPEAKERS}
    for s in SPEAKERS:
        same = _cos(first[s], second[s])
        others = [_cos(first[s], second[o]) for o in SPEAKERS if o != s]
        assert same > max(others), (s, same, others)


def test_the_packaged_centre_is_removed_from_every_embedding(
    engine: VoiceEngine, models: Path, voices: Path
) -> None:
    """Raw GE2E vectors of different speakers share a large common part (cosines ~0.7); the
    centred embedding of the same audio is the raw one minus the packaged centre."""
    raw_engine = VoiceEngine(models, centre=np.zeros(EMBEDDING_DIM, dtype=np.float32))
    data = {s: _challenge(voices, s, "3196", 0) for s in SPEAKERS}
    raw = {s: _ok(raw_engine.analyse(d)) for s, d in data.items()}
    centred = {s: _ok(engine.analyse(d)) for s, d in data.items()}
    centre = load_centre().vector()
    for s in SPEAKERS:
        r, c = raw[s].embedding, centred[s].embedding
        assert r is not None and c is not None
        expected = r - centre
        np.testing.assert_allclose(c, expected / np.linalg.norm(expected), atol=1e-5)
    pairs = [(a, b) for a in SPEAKERS for b in SPEAKERS if a < b]
    raw_impostor = np.mean([_cos(raw[a], raw[b]) for a, b in pairs])
    centred_impostor = np.mean([_cos(centred[a], centred[b]) for a, b in pairs])
    assert raw_impostor > 0.5 and centred_impostor < raw_impostor - 0.15


def test_applying_a_centre_to_raw_vectors() -> None:
    raw = np.array([[3.0, 4.0], [0.0, 2.0]])
    centred = apply_centre(raw, np.array([0.6, 0.0], dtype=np.float32))
    np.testing.assert_allclose(centred, [[0.0, 1.0], [-0.5144958, 0.8574929]], atol=1e-6)
    assert centred.dtype == np.float32


def test_the_centre_weighs_every_speaker_alike() -> None:
    raw = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    centre = fit_centre(raw, ["a", "a", "a", "b"])
    np.testing.assert_allclose(centre, [0.5, 0.5])
    with pytest.raises(ValueError, match="one speaker label"):
        fit_centre(raw, ["a"])


def test_the_packaged_centre_says_what_it_was_fitted_on() -> None:
    packaged = load_centre()
    assert packaged.vector().shape == (EMBEDDING_DIM,)
    assert packaged.speakers >= 20 and packaged.utterances >= packaged.speakers
    assert "speakers" in packaged.fitted_on


def test_a_registry_adapter_maps_the_base_embedding(engine: VoiceEngine, voices: Path) -> None:
    weight = np.random.default_rng(3).normal(size=(256, 64)).astype(np.float32)
    data = linear_adapter(weight)
    adapter = load_adapter(data, manifest_for(data, "voice-embedder", "1.2.0"))
    sample = _ok(engine.analyse(_challenge(voices, "lucas", "907", 5)))
    assert sample.base_embedding is not None and sample.embedding is not None
    np.testing.assert_array_equal(sample.base_embedding, sample.embedding)
    expected = sample.base_embedding @ weight
    np.testing.assert_allclose(
        adapter.embed(sample.base_embedding)[0], expected / np.linalg.norm(expected), atol=1e-5
    )


def test_concurrent_calls_match_sequential_ones(engine: VoiceEngine, voices: Path) -> None:
    data = [_challenge(voices, s, "25", 8) for s in SPEAKERS]
    sequential = [engine.analyse(d).embedding for d in data]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = [s.embedding for s in pool.map(engine.analyse, data)]
    for a, b in zip(sequential, concurrent, strict=True):
        assert a is not None and b is not None
        np.testing.assert_allclose(a, b, atol=1e-5)
