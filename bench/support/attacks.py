"""Presentation attacks that can be built from a genuine capture, for measuring replay / PAD.

Each attack takes the bytes of a genuine capture and returns the bytes an attacker would
submit: the same photo re-encoded, resized or re-photographed from a screen or a print, the
same recording resampled, re-encoded, noisy or played through a loudspeaker. They are
deterministic for a given ``seed``, so a measurement can be repeated and cached.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import butter, fftconvolve, sosfilt

from core.biometrics.audio import SAMPLE_RATE, decode_audio, resample

Attack = Callable[[bytes, int], bytes]


def _image(data: bytes) -> NDArray[np.uint8]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not an image")
    return np.asarray(image, dtype=np.uint8)


def _jpeg(image: NDArray[np.uint8], quality: int) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("cannot encode JPEG")
    return bytes(encoded)


def reencode_jpeg(data: bytes, seed: int) -> bytes:
    """The photo saved again at a lower JPEG quality (a download, a messenger)."""
    return _jpeg(_image(data), 70 + seed % 15)


def resize_crop(data: bytes, seed: int) -> bytes:
    """Cropped by a few pixels, scaled to 60-80 %, re-encoded (a thumbnail, a screenshot)."""
    rng = np.random.default_rng(seed)
    image = _image(data)
    h, w = image.shape[:2]
    dy, dx = (int(v) for v in rng.integers(1, max(2, min(h, w) // 40), size=2))
    factor = float(rng.uniform(0.6, 0.8))
    small = cv2.resize(
        image[dy : h - dy, dx : w - dx], None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA
    )
    return _jpeg(np.asarray(small, dtype=np.uint8), 85)


def _perspective(
    image: NDArray[np.uint8], rng: np.random.Generator, amount: float
) -> NDArray[np.float32]:
    """The image seen at a slant: each corner moved by up to ``amount`` of the size, in [0, 1]."""
    h, w = image.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    jitter = rng.uniform(-amount, amount, size=(4, 2)) * np.array([w, h])
    dst = (src + jitter).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(warped, dtype=np.float32) / 255.0


def screen_replay(data: bytes, seed: int) -> bytes:
    """The photo shown on a screen and photographed: perspective, display gamma, the pixel
    grid's moiré, lens blur, sensor noise, JPEG."""
    rng = np.random.default_rng(seed)
    image = _perspective(_image(data), rng, 0.04)
    image = np.power(image, float(rng.uniform(0.75, 0.9)))  # a screen's brighter mid-tones
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle, period = float(rng.uniform(0, np.pi)), float(rng.uniform(3.0, 6.0))
    moire = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    image = image * (1.0 + 0.06 * moire[..., None])
    image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.8, 1.4)))
    image = image + rng.normal(0.0, 0.015, image.shape).astype(np.float32)
    return _jpeg(np.clip(image * 255.0, 0, 255).astype(np.uint8), 85)


def print_replay(data: bytes, seed: int) -> bytes:
    """The photo printed and photographed: perspective, washed-out colours and contrast
    (ink on paper), a warm cast, halftone-like blur, JPEG."""
    rng = np.random.default_rng(seed)
    image = _perspective(_image(data), rng, 0.05)
    grey = image.mean(axis=2, keepdims=True)
    image = grey + (image - grey) * float(rng.uniform(0.6, 0.8))  # paper loses saturation
    image = 0.12 + image * float(rng.uniform(0.7, 0.8))  # and contrast
    image = image * np.array([0.92, 1.0, 1.05], dtype=np.float32)  # BGR: a warm indoor light
    image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(1.0, 1.8)))
    image = image + rng.normal(0.0, 0.02, image.shape).astype(np.float32)
    return _jpeg(np.clip(image * 255.0, 0, 255).astype(np.uint8), 80)


def _wav(audio: NDArray[np.float32], rate: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def resample_audio(data: bytes, seed: int) -> bytes:
    """The recording resampled to 22.05 or 44.1 kHz and a little quieter."""
    rate = (22050, 44100)[seed % 2]
    audio = resample(decode_audio(data), SAMPLE_RATE, rate) * 0.7
    return _wav(audio, rate)


def reencode_audio(data: bytes, seed: int) -> bytes:
    """The recording re-encoded through 8 kHz µ-law (a telephone codec) and back."""
    audio = resample(decode_audio(data), SAMPLE_RATE, 8000)
    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), 8000, format="WAV", subtype="ULAW")
    return _wav(resample(decode_audio(buf.getvalue()), SAMPLE_RATE, 8000), 8000)


def noisy_audio(data: bytes, seed: int) -> bytes:
    """The recording with white noise at 20-30 dB SNR."""
    rng = np.random.default_rng(seed)
    audio = decode_audio(data)
    power = float(np.mean(audio**2)) or 1e-8
    snr_db = float(rng.uniform(20.0, 30.0))
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), audio.shape)
    return _wav((audio + noise).astype(np.float32), SAMPLE_RATE)


def loudspeaker_replay(data: bytes, seed: int) -> bytes:
    """The recording played through a small loudspeaker into a microphone: 300-3400 Hz band,
    a short room reverberation, background noise at ~25 dB SNR."""
    rng = np.random.default_rng(seed)
    audio = decode_audio(data)
    sos = butter(4, [300, 3400], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    played = sosfilt(sos, audio).astype(np.float32)
    length = int(0.15 * SAMPLE_RATE)
    room = rng.normal(0.0, 1.0, length) * np.exp(-np.arange(length) / (0.03 * SAMPLE_RATE))
    room[0] = 4.0
    played = fftconvolve(played, room / np.abs(room).sum() * 4.0)[: len(audio)]
    power = float(np.mean(played**2)) or 1e-8
    played = played + rng.normal(0.0, np.sqrt(power / 10**2.5), played.shape)
    peak = float(np.abs(played).max()) or 1.0
    return _wav((played / peak * 0.5).astype(np.float32), SAMPLE_RATE)


FACE_ATTACKS: dict[str, Attack] = {
    "jpeg_reencode": reencode_jpeg,
    "resize_crop": resize_crop,
    "screen_replay": screen_replay,
    "print_replay": print_replay,
}
VOICE_ATTACKS: dict[str, Attack] = {
    "resample": resample_audio,
    "ulaw_reencode": reencode_audio,
    "noise": noisy_audio,
    "loudspeaker_replay": loudspeaker_replay,
}
