"""PDF pages rendered by PDFium: sizes, limits and unreadable files (no services needed)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from trainer.pdf_pages import InvalidPdf, render_pages


def _pdf(pages: int, size: tuple[int, int] = (620, 877)) -> bytes:
    """``pages`` white pages of ``size`` pixels at 75 dpi, page n with a black square n*10 px."""
    images = []
    for n in range(1, pages + 1):
        image = Image.new("RGB", size, "white")
        image.paste((0, 0, 0), (0, 0, n * 10, n * 10))
        images.append(image)
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", resolution=75, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def test_pages_come_in_order_at_the_asked_resolution() -> None:
    pages = list(render_pages(_pdf(3), dpi=150))
    assert [p.number for p in pages] == [1, 2, 3]
    for page in pages:
        # 75 dpi pages rendered at 150 dpi: twice the pixels (PDFium rounds up: +1 at most).
        height, width, channels = page.rgb.shape
        assert (channels, height - 1754, width - 1240) in {(3, 0, 0), (3, 0, 1), (3, 1, 0)}
        # The black square in the corner scales with the page number (and the resolution).
        dark = (page.rgb[:, :, 0] < 128).sum()
        assert dark == pytest.approx((page.number * 20) ** 2, rel=0.1)


def test_a_poster_is_capped_at_max_side() -> None:
    (page,) = render_pages(_pdf(1, size=(4000, 3000)), dpi=150, max_side=2000)
    assert max(page.rgb.shape[:2]) in {2000, 2001}  # PDFium rounds up


def test_unreadable_and_overlong_documents_are_refused() -> None:
    with pytest.raises(InvalidPdf) as corrupt:
        list(render_pages(b"%PDF-1.4\nnot really"))
    assert corrupt.value.reason == "corrupt"
    with pytest.raises(InvalidPdf) as long:
        list(render_pages(_pdf(4), max_pages=3))
    assert long.value.reason == "too_many_pages"
