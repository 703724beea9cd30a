"""Image in: check uploaded bytes and decode them to a bounded RGB working copy.

Terminals upload JPEG, PNG or WebP; anything else is refused, so that the engines never reason
about exotic decoders. Limits are checked *before* pixels are decoded (byte size first, then the
header's pixel count), so a decompression bomb costs nothing.

Large photos are reduced while decoding: for JPEG, libjpeg's DCT scaling (Pillow's ``draft``)
decodes at 1/2, 1/4 or 1/8 size directly, which is several times faster than decoding the full
frame and resizing it; the rest of the way down to ``work_side`` is an area resize. Face
detection, landmarks and the face chip all run on this working copy: a 150 px face chip needs
no more than ~1000 px of photo for any face the size of a login selfie.

Bad input raises :class:`InvalidImage` with a short machine-readable ``reason``; the face engine
catches it and returns ``SampleStatus.INVALID_MEDIA`` with that reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

_FORMATS = {"JPEG", "PNG", "WEBP"}

# libjpeg's base luminance quantisation table (ITU T.81 K.1), which encoders scale by quality.
_JPEG_STD_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
).ravel()


class InvalidImage(ValueError):
    """The bytes are not a usable image; ``reason`` is a short code for the decision log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    # 50 MP admits every current phone camera and refuses decompression bombs. JPEG decodes
    # straight to the working size (draft mode); PNG and WebP decode in full first, so they
    # get a lower cap (a 190 KB 7000x7000 PNG would cost half a GB).
    max_pixels: int = 50_000_000
    max_pixels_full_decode: int = 12_000_000
    # Longest side of the working copy the face pipeline runs on.
    work_side: int = 1024


@dataclass(frozen=True)
class DecodedImage:
    rgb: NDArray[np.uint8]  # H x W x 3 RGB, C-contiguous, writable, longest side <= work_side
    scale: float  # working-copy pixels per source pixel (<= 1)
    # Estimated JPEG quality (1-100) from the quantisation table; None for lossless formats.
    jpeg_quality: float | None


def open_checked(data: bytes, limits: ImageLimits | None = None) -> Image.Image:
    """``data`` opened from its header alone, its size, format and pixel count checked (or
    :class:`InvalidImage`): nothing is decoded, so refusing here costs next to nothing."""
    limits = limits or ImageLimits()
    if not data:
        raise InvalidImage("empty")
    if len(data) > limits.max_bytes:
        raise InvalidImage("too_large", f"{len(data)} bytes > {limits.max_bytes}")
    # Pillow's decoders raise many exception types on hostile input (OSError, ValueError,
    # SyntaxError, struct.error, DecompressionBombError...): all of them mean "not usable".
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # Pillow's own cap, far above max_pixels
        raise InvalidImage("too_many_pixels", str(exc)) from exc
    except Exception as exc:
        raise InvalidImage("unsupported_format", "not an image") from exc
    if im.format not in _FORMATS:
        raise InvalidImage("unsupported_format", f"{im.format}; send JPEG, PNG or WebP")
    width, height = im.size
    cap = limits.max_pixels if im.format == "JPEG" else limits.max_pixels_full_decode
    if width * height > cap:
        raise InvalidImage("too_many_pixels", f"{width}x{height} > {cap} ({im.format})")
    if width < 1 or height < 1:
        raise InvalidImage("corrupt", "zero-sized image")
    return im


def decode_image(data: bytes, limits: ImageLimits | None = None) -> DecodedImage:
    """Decode ``data`` (JPEG, PNG or WebP) to an upright RGB working copy, or raise InvalidImage."""
    limits = limits or ImageLimits()
    im = open_checked(data, limits)
    width, height = im.size
    quality = _jpeg_quality(im)
    try:
        im.draft("RGB", (limits.work_side, limits.work_side))
        im.load()
        # Phones store portrait shots sideways plus an EXIF rotation: detectors need upright.
        upright = ImageOps.exif_transpose(im).convert("RGB")
    except OSError as exc:
        # Pillow's wording for a cut-off stream ("image file is truncated", "Truncated File Read").
        reason = "truncated" if "truncated" in str(exc).lower() else "corrupt"
        raise InvalidImage(reason, str(exc)) from exc
    except Exception as exc:
        raise InvalidImage("corrupt", str(exc)) from exc
    # np.array copies: Pillow's buffer is read-only and dlib wants a writable array.
    rgb, _ = shrink_to(np.array(upright), limits.work_side)
    return DecodedImage(
        rgb=np.ascontiguousarray(rgb),
        scale=max(rgb.shape[:2]) / max(width, height),
        jpeg_quality=quality,
    )


def shrink_to(rgb: NDArray[np.uint8], max_side: int) -> tuple[NDArray[np.uint8], float]:
    """``rgb`` area-resized so its longest side is at most ``max_side``, and the factor used."""
    factor = min(1.0, max_side / max(rgb.shape[:2]))
    return (rgb, factor) if factor == 1.0 else (_resize(rgb, factor), factor)


def fit_to(rgb: NDArray[np.uint8], side: int) -> tuple[NDArray[np.uint8], float]:
    """``rgb`` resized, up or down, so its longest side is ``side``, and the factor used."""
    factor = side / max(rgb.shape[:2])
    return (rgb, factor) if factor == 1.0 else (_resize(rgb, factor), factor)


def _resize(rgb: NDArray[np.uint8], factor: float) -> NDArray[np.uint8]:
    height, width = rgb.shape[:2]
    # Explicit sizes: fx/fy would round a 1 px side of a very thin image down to 0.
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    # Area averaging when reducing avoids aliasing; bilinear when enlarging.
    interpolation = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(rgb, size, interpolation=interpolation), dtype=np.uint8)


def _jpeg_quality(im: Image.Image) -> float | None:
    """The quality setting that yields the file's luminance table under libjpeg's scaling rule.

    libjpeg scales the standard table by ``s = 5000 / q`` (q < 50) or ``s = 200 - 2 q``; the mean
    ratio to the standard table recovers ``s``. Every common encoder (libjpeg, libjpeg-turbo,
    mozjpeg, phone ISPs) follows that rule closely enough for a quality signal.
    """
    tables = getattr(im, "quantization", None)
    if im.format != "JPEG" or not tables or 0 not in tables:
        return None
    luma = np.asarray(tables[0], dtype=np.float64)
    if luma.shape != _JPEG_STD_LUMA.shape:
        return None
    # The mean ratio does not depend on the order (zig-zag or natural) of the 64 entries.
    s = float(np.mean(luma / _JPEG_STD_LUMA)) * 100.0
    q = 5000.0 / s if s > 100.0 else (200.0 - s) / 2.0
    return float(np.clip(q, 1.0, 100.0))
