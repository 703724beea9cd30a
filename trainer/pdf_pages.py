"""PDF pages as RGB images, rendered by PDFium (bundled in the pypdfium2 wheel: no poppler).

A page is rendered at ``dpi`` but never beyond ``max_side`` pixels, so a poster-sized page
cannot exhaust memory; a file PDFium cannot open raises :class:`InvalidPdf`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

POINTS_PER_INCH = 72
DEFAULT_DPI = 150
# An A4 page at 150 dpi is 1240 x 1754; OCR and face detection gain nothing beyond ~2500 px.
DEFAULT_MAX_SIDE = 2500


class InvalidPdf(ValueError):
    """The bytes are not a PDF PDFium can read; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Page:
    number: int  # 1-based, as a reader counts
    rgb: NDArray[np.uint8]


def page_count(data: bytes) -> int:
    """How many pages ``data`` has; :class:`InvalidPdf` if PDFium cannot open it."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise InvalidPdf("corrupt", str(exc)) from exc
    try:
        return len(document)
    finally:
        document.close()


def render_pages(
    data: bytes, *, dpi: int = DEFAULT_DPI, max_side: int = DEFAULT_MAX_SIDE
) -> Iterator[Page]:
    """Each page of ``data`` in order; :class:`InvalidPdf` if the file or a page is unreadable."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise InvalidPdf("corrupt", str(exc)) from exc
    try:
        for index in range(len(document)):
            page = document[index]
            try:
                width, height = page.get_size()
                scale = min(dpi / POINTS_PER_INCH, max_side / max(width, height, 1.0))
                bitmap = page.render(scale=scale)
                rgb = np.asarray(bitmap.to_pil().convert("RGB"), dtype=np.uint8)
            except pdfium.PdfiumError as exc:
                raise InvalidPdf("corrupt_page", f"page {index + 1}: {exc}") from exc
            finally:
                page.close()
            yield Page(number=index + 1, rgb=np.ascontiguousarray(rgb))
    finally:
        document.close()
