"""PDF pages as RGB images, rendered by PDFium (bundled in the pypdfium2 wheel: no poppler).

A page is rendered at ``dpi`` but never beyond ``max_side`` pixels (PDFium may round up by
one), so a poster-sized page cannot exhaust memory; a file PDFium cannot open, or one with too
many pages, raises :class:`InvalidPdf`.
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
# Each page costs seconds of OCR and face detection on this hardware: a longer document is
# refused rather than left to run for an hour.
DEFAULT_MAX_PAGES = 200


class InvalidPdf(ValueError):
    """The bytes are not a PDF PDFium can read; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Page:
    number: int  # 1-based, as a reader counts
    rgb: NDArray[np.uint8]


def render_pages(
    data: bytes,
    *,
    dpi: int = DEFAULT_DPI,
    max_side: int = DEFAULT_MAX_SIDE,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Iterator[Page]:
    """Each page of ``data`` in order; :class:`InvalidPdf` if the file or a page is unreadable,
    or if it has more than ``max_pages`` pages (checked before any is rendered)."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise InvalidPdf("corrupt", str(exc)) from exc
    try:
        if len(document) > max_pages:
            raise InvalidPdf("too_many_pages", f"{len(document)} pages > {max_pages}")
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
