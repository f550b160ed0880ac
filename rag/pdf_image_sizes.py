"""The pixel sizes of the images a PDF page holds, read from their dictionaries.

PDFium decodes each image whole to draw a page, whatever size it is drawn at: a 2 MB PDF can
hold a 45,000 x 45,000 image of zeros (2 GB). Rendering for OCR (ingest) and for a page view
(rag.page_images) both check these sizes against POLRAG_MAX_IMAGE_PIXELS before drawing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Form XObjects nest; PDFium draws them as deep as this (its kRenderMaxRecursionDepth).
RENDER_DEPTH = 64


def image_sizes(page: Any) -> Iterator[tuple[int, int]]:
    """(width, height) in pixels of every image ``page`` (a pypdfium2 page) draws, nested ones too."""
    import pypdfium2.raw as pdfium_c

    for image in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=RENDER_DEPTH):
        width, height = image.get_px_size()
        yield width, height
