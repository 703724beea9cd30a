"""Degradations: deterministic per sample, and each stage does what its name says."""

from __future__ import annotations

import io

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from core.biometrics.audio import SAMPLE_RATE, decode_audio, encode_wav
from core.biometrics.degrade import (
    CLEAN,
    CONDITIONS,
    Condition,
    band_limit,
    condition,
    degrade_audio,
    degrade_image,
    degrade_rgb,
    degrade_wav,
)


def _tone(hz: float, seconds: float = 1.0) -> NDArray[np.float32]:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _power(x: NDArray[np.float32]) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def _photo(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    # A textured image: smooth gradient plus fine detail the blur and the encoder remove.
    base = np.linspace(40, 220, 96)[None, :, None] * np.ones((96, 96, 3))
    rgb = np.clip(base + rng.normal(0, 25, (96, 96, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def test_noise_is_deterministic_per_key_and_independent_across_keys() -> None:
    noisy = condition("noisy-10db")
    clip = _tone(440)
    a = degrade_audio(clip, noisy, "sample-1")
    assert np.array_equal(a, degrade_audio(clip, noisy, "sample-1"))
    assert not np.array_equal(a, degrade_audio(clip, noisy, "sample-2"))
    assert not np.array_equal(
        a, degrade_audio(clip, noisy.model_copy(update={"seed": 1}), "sample-1")
    )


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_noise_is_added_at_the_requested_snr(snr_db: float) -> None:
    clip = _tone(440)
    noisy = degrade_audio(clip, Condition(name="n", snr_db=snr_db), "k")
    measured = 10 * np.log10(_power(clip) / _power(noisy - clip))
    assert measured == pytest.approx(snr_db, abs=0.3)


def test_silence_stays_silent() -> None:
    silent = np.zeros(SAMPLE_RATE, dtype=np.float32)
    assert not degrade_audio(silent, condition("noisy-10db"), "k").any()


def test_band_limiting_keeps_the_telephone_band_only() -> None:
    band = (300.0, 3400.0)
    kept = _power(band_limit(_tone(1000), band)) / _power(_tone(1000))
    low = _power(band_limit(_tone(80), band)) / _power(_tone(80))
    high = _power(band_limit(_tone(6000), band)) / _power(_tone(6000))
    assert kept > 0.9
    assert low < 0.01
    assert high < 0.01


def test_a_degraded_wav_is_a_wav_of_the_same_length() -> None:
    data = encode_wav(_tone(440))
    out = degrade_wav(data, condition("telephone-noisy"), "k")
    assert out != data
    assert decode_audio(out).shape == decode_audio(data).shape
    assert degrade_wav(data, CLEAN, "k") == data


def test_band_edges_must_lie_below_nyquist() -> None:
    with pytest.raises(ValueError, match="band"):
        Condition(name="bad", band_hz=(300.0, 9000.0))


def test_image_stages_blur_darken_and_compress() -> None:
    photo = _photo()
    rgb = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
    detail = float(np.abs(np.diff(rgb.astype(float), axis=1)).mean())
    blurred = degrade_rgb(rgb, condition("blurred"))
    assert float(np.abs(np.diff(blurred.astype(float), axis=1)).mean()) < detail / 2
    dark = degrade_rgb(rgb, condition("low-light"))
    assert dark.mean() < rgb.mean() / 2
    jpeg_low = degrade_image(photo, condition("jpeg-low"))
    jpeg_high = degrade_image(photo, Condition(name="jpeg-high", jpeg_quality=95))
    assert len(jpeg_low) < len(jpeg_high)
    assert Image.open(io.BytesIO(jpeg_low)).format == "JPEG"


def test_image_degradation_is_deterministic_and_clean_is_untouched() -> None:
    photo = _photo()
    poor = condition("poor-camera")
    assert degrade_image(photo, poor) == degrade_image(photo, poor)
    assert degrade_image(photo, CLEAN) == photo


def test_every_named_condition_is_found_by_name() -> None:
    for name, cond in CONDITIONS.items():
        assert condition(name) is cond
    assert CLEAN.is_clean
    assert not condition("telephone").is_clean
    with pytest.raises(KeyError, match="known"):
        condition("no-such-terminal")
