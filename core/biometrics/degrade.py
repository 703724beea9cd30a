"""Deterministic degradations of captured media: what a poor terminal does to a sample.

Shared by the trainer's experiments, the terminal simulator and the demo, so that "the noisy
kiosk" means the same signal everywhere. A :class:`Condition` names a degradation and its
parameters; a terminal is degraded by naming one of :data:`CONDITIONS` (or by passing its own).

Every random step is seeded from the condition's ``seed`` and a caller-given ``key`` (the
sample's id), so the same sample degraded twice gives the same bytes, and two samples get
independent noise.

Audio: band-limiting (a Butterworth band-pass, telephone-like at 300–3400 Hz) and additive white
noise at a given SNR, measured against the signal's own power. Images: Gaussian blur, low light
(brightness scale then gamma), and a JPEG re-encode at low quality, in that order — the order a
camera applies them (optics, exposure, then the encoder).
"""

from __future__ import annotations

import hashlib
import io

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.signal import butter, sosfiltfilt

from core.biometrics.audio import SAMPLE_RATE, decode_audio, encode_wav

# A silent clip has no power to set noise against; below this it is left silent.
_SILENCE_POWER = 1e-12
_BAND_ORDER = 4


class Condition(BaseModel):
    """A named degradation; a field left ``None`` is a stage that is not applied."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)
    seed: int = 0
    # audio
    band_hz: tuple[float, float] | None = Field(default=None, description="band-pass edges")
    snr_db: float | None = Field(default=None, description="additive white noise at this SNR")
    # image
    blur_sigma: float | None = Field(default=None, gt=0.0, description="Gaussian blur, pixels")
    brightness: float | None = Field(default=None, gt=0.0, le=1.0, description="pixel scale")
    gamma: float | None = Field(default=None, gt=0.0, description="> 1 darkens the mid-tones")
    jpeg_quality: int | None = Field(default=None, ge=1, le=95)

    @model_validator(mode="after")
    def _band_inside_nyquist(self) -> Condition:
        if self.band_hz is not None:
            low, high = self.band_hz
            if not 0.0 < low < high < SAMPLE_RATE / 2:
                raise ValueError(f"band {self.band_hz} must lie inside (0, {SAMPLE_RATE / 2}) Hz")
        return self

    @property
    def is_clean(self) -> bool:
        stages = (
            self.band_hz,
            self.snr_db,
            self.blur_sigma,
            self.brightness,
            self.gamma,
            self.jpeg_quality,
        )
        return all(s is None for s in stages)


CLEAN = Condition(name="clean")

CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        CLEAN,
        Condition(name="telephone", band_hz=(300.0, 3400.0)),
        Condition(name="noisy-10db", snr_db=10.0),
        Condition(name="telephone-noisy", band_hz=(300.0, 3400.0), snr_db=5.0),
        Condition(name="blurred", blur_sigma=2.5),
        Condition(name="low-light", brightness=0.35, gamma=1.6),
        Condition(name="jpeg-low", jpeg_quality=10),
        # Out of focus and heavily compressed. Low light is left out of it: dlib's HOG detector
        # then misses most faces, which measures the detector, not the embedder.
        Condition(name="poor-camera", blur_sigma=2.0, jpeg_quality=12),
    )
}


def condition(name: str) -> Condition:
    """The named condition; ``KeyError`` lists the known names."""
    try:
        return CONDITIONS[name]
    except KeyError:
        raise KeyError(f"unknown condition {name!r}; known: {sorted(CONDITIONS)}") from None


def _rng(cond: Condition, key: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{cond.name}/{cond.seed}/{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def band_limit(audio: NDArray[np.float32], band_hz: tuple[float, float]) -> NDArray[np.float32]:
    """Zero-phase Butterworth band-pass of 16 kHz audio."""
    sos = butter(_BAND_ORDER, band_hz, btype="bandpass", fs=SAMPLE_RATE, output="sos")
    # sosfiltfilt needs a few samples more than its padding; shorter clips pass unfiltered.
    if audio.size <= 3 * (2 * sos.shape[0] + 1):
        return audio.astype(np.float32)
    return np.asarray(sosfiltfilt(sos, audio), dtype=np.float32)


def add_noise(
    audio: NDArray[np.float32], snr_db: float, rng: np.random.Generator
) -> NDArray[np.float32]:
    """White noise at ``snr_db`` below the clip's mean power, clipped to [-1, 1]."""
    power = float(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0
    if power < _SILENCE_POWER:
        return audio.astype(np.float32)
    noise = rng.standard_normal(audio.size) * np.sqrt(power / 10 ** (snr_db / 10))
    return np.asarray(np.clip(audio + noise, -1.0, 1.0), dtype=np.float32)


def degrade_audio(audio: NDArray[np.float32], cond: Condition, key: str) -> NDArray[np.float32]:
    """16 kHz float audio as ``cond``'s terminal would have captured it."""
    out = np.asarray(audio, dtype=np.float32)
    if cond.band_hz is not None:
        out = band_limit(out, cond.band_hz)
    if cond.snr_db is not None:
        out = add_noise(out, cond.snr_db, _rng(cond, key))
    return out


def degrade_wav(data: bytes, cond: Condition, key: str) -> bytes:
    """An uploaded recording, decoded to 16 kHz mono, degraded and re-encoded as WAV."""
    if cond.is_clean:
        return data
    return encode_wav(degrade_audio(decode_audio(data), cond, key))


def blur(rgb: NDArray[np.uint8], sigma: float) -> NDArray[np.uint8]:
    return np.asarray(cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma), dtype=np.uint8)


def low_light(rgb: NDArray[np.uint8], brightness: float, gamma: float) -> NDArray[np.uint8]:
    """Underexposure: pixel values scaled by ``brightness`` then raised to ``gamma``."""
    unit = rgb.astype(np.float32) / 255.0
    dark = np.power(unit * brightness, gamma)
    return np.asarray(np.round(np.clip(dark, 0.0, 1.0) * 255.0), dtype=np.uint8)


def jpeg_round_trip(rgb: NDArray[np.uint8], quality: int) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(encode_jpeg(rgb, quality))).convert("RGB"))


def encode_jpeg(rgb: NDArray[np.uint8], quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def degrade_rgb(rgb: NDArray[np.uint8], cond: Condition) -> NDArray[np.uint8]:
    """An RGB image as ``cond``'s camera would have captured it (blur, light, encoder)."""
    out = rgb
    if cond.blur_sigma is not None:
        out = blur(out, cond.blur_sigma)
    if cond.brightness is not None or cond.gamma is not None:
        out = low_light(out, cond.brightness or 1.0, cond.gamma or 1.0)
    if cond.jpeg_quality is not None:
        out = jpeg_round_trip(out, cond.jpeg_quality)
    return out


# A degraded photo that was not re-encoded at low quality leaves the terminal at this quality.
_UPLOAD_QUALITY = 92


def degrade_image(data: bytes, cond: Condition) -> bytes:
    """An uploaded photo (EXIF rotation applied), degraded, as the JPEG the terminal sends."""
    if cond.is_clean:
        return data
    with Image.open(io.BytesIO(data)) as im:
        rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    degraded = degrade_rgb(rgb, cond.model_copy(update={"jpeg_quality": None}))
    return encode_jpeg(degraded, cond.jpeg_quality or _UPLOAD_QUALITY)
