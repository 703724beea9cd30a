"""Offline OCR of page images with RapidOCR and the ONNX models inside its wheel.

RapidOCR downloads a model when its configuration names none that exists, so every model path
is given explicitly, pointing into the installed package: a missing file is then an error
(``OcrUnavailable``), never a network call. Images are passed as arrays, never as paths or
URLs (RapidOCR fetches ``http…`` strings). PP-OCRv6's recogniser carries its own character
list, so no dictionary file is needed either.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

DETECTOR_FILE = "PP-OCRv6_det_small.onnx"
CLASSIFIER_FILE = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
RECOGNISER_FILE = "PP-OCRv6_rec_small.onnx"
ENGINE = f"rapidocr {RECOGNISER_FILE.removesuffix('.onnx')}"


class OcrUnavailable(RuntimeError):
    """The OCR package or one of its bundled models is missing."""


class TextLine(BaseModel):
    """One line of text and its axis-aligned box, in the page image's pixels."""

    model_config = ConfigDict(frozen=True)

    text: str
    score: float = Field(ge=0, le=1)
    left: int
    top: int
    right: int
    bottom: int


def bundled_models() -> dict[str, Path]:
    """RapidOCR's configuration keys for its three models, pointing into the installed wheel."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise OcrUnavailable("rapidocr is not installed (pip install rapidocr)")
    root = Path(spec.origin).parent / "models"
    paths = {
        "Det.model_path": root / DETECTOR_FILE,
        "Cls.model_path": root / CLASSIFIER_FILE,
        "Rec.model_path": root / RECOGNISER_FILE,
    }
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise OcrUnavailable(f"rapidocr's bundled models are missing: {', '.join(missing)}")
    return paths


class PageReader:
    """Reads the text lines of RGB images; one instance loads the models once."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        params: dict[str, Any] = {k: str(v) for k, v in bundled_models().items()}
        # Its own handler would print every model path it loads at INFO.
        params["Global.log_level"] = "warning"
        self._engine = RapidOCR(params=params)

    def read(self, rgb: NDArray[np.uint8]) -> list[TextLine]:
        # RapidOCR takes arrays as OpenCV's BGR.
        from rapidocr.utils.output import RapidOCROutput

        result = self._engine(np.ascontiguousarray(rgb[..., ::-1]))
        # Detection and recognition both on: anything but the full output means nothing read.
        if not isinstance(result, RapidOCROutput):
            return []
        boxes, texts, scores = result.boxes, result.txts, result.scores
        if boxes is None or texts is None or scores is None:
            return []
        lines = []
        for quad, text, score in zip(boxes, texts, scores, strict=True):
            xs, ys = np.asarray(quad)[:, 0], np.asarray(quad)[:, 1]
            lines.append(
                TextLine(
                    text=str(text),
                    score=min(1.0, max(0.0, float(score))),
                    left=max(0, int(np.floor(xs.min()))),
                    top=max(0, int(np.floor(ys.min()))),
                    right=int(np.ceil(xs.max())),
                    bottom=int(np.ceil(ys.max())),
                )
            )
        return lines
