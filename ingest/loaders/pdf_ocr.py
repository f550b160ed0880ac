"""The PDF loader's per-page choice: the text layer, or the page rendered and OCR'd.

Pages are rendered here, one at a time (PDFium is not thread-safe), and read by Tesseract on
``OcrOptions.threads`` threads (tesserocr releases the GIL), so a long scan uses every core.
:meth:`PageReader.add` is called under PDFium's lock and only renders; the reading (and any wait
for a free OCR thread) is :meth:`PageReader.read_rendered`, called after the lock is let go, so a
page image the server draws meanwhile never waits for Tesseract.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ingest.limits import DEFAULT_LIMITS, DocumentLimits
from ingest.ocr import OcrOptions, OcrUnavailable, check_available, read_image
from ingest.ocr_decision import LITTLE_TEXT_CHARS, known_word_share, ocr_reason
from rag.errors import DocumentTooLarge
from rag.pdf_image_sizes import image_sizes
from rag.progress import ocr_page
from rag.types import Page

if TYPE_CHECKING:
    import pypdfium2 as pdfium

log = logging.getLogger(__name__)

# Without OCR these pages would be lost, so the file fails; a page with a doubtful layer keeps it.
NOTHING_WITHOUT_OCR = ("no text layer", "images cover the page, little text layer")


class PageReader:
    """Collects a PDF's pages in order: text layers at once, OCR'd pages as their threads finish."""

    def __init__(
        self, ocr: OcrOptions | None, limits: DocumentLimits = DEFAULT_LIMITS, *, pages: int | None = None
    ) -> None:
        self.options = ocr or OcrOptions.configured()
        self.limits = limits
        self.page_count = pages  # for the progress report: OCR page i of n
        self._slots: list[Page | Future[Page] | None] = []
        self._rendered: tuple[int, Any, int, str, str] | None = None  # (slot, image, number, reason, text)
        self._running: deque[Future[Page]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._checked = False
        self._unavailable: OcrUnavailable | None = None

    def __enter__(self) -> PageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, page: pdfium.PdfPage, number: int, text: str) -> None:
        """Take the page's text layer, or render it for :meth:`read_rendered` (under PDFium's lock)."""
        options = self.options
        # The image share decides only pages with a little text in auto mode: walking the page's
        # objects for every page of an ordinary text PDF would be wasted.
        little_text = 0 < len(text.strip()) < LITTLE_TEXT_CHARS
        share = image_share(page) if options.mode == "auto" and little_text else 0.0
        reason = ocr_reason(text, share, options.mode)
        if reason is None:
            self._slots.append(Page(number, text))
            return
        if (missing := self._missing_ocr()) is not None:
            if reason in NOTHING_WITHOUT_OCR and options.mode != "force":
                raise missing
            log.warning("page %d: %s, but OCR is not available; its text layer is kept", number, reason)
            self._slots.append(Page(number, text))
            return
        ocr_page(number, self.page_count or number)
        bitmap = page.render(scale=self._render_scale(page, number), grayscale=True)
        image = bitmap.to_pil().copy()  # off PDFium's buffer, freed under its lock: read without it
        bitmap.close()
        self._rendered = (len(self._slots), image, number, reason, text)
        self._slots.append(None)

    def read_rendered(self) -> None:
        """OCR the page :meth:`add` rendered, if any (without PDFium's lock: Tesseract needs none)."""
        if self._rendered is None:
            return
        slot, image, number, reason, text = self._rendered
        self._rendered = None
        options = self.options
        if options.threads <= 1:
            self._slots[slot] = _read(image, options, number, reason, text)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(options.threads, thread_name_prefix="polrag-ocr")
        while len(self._running) >= 2 * options.threads:  # rendered pages waiting hold memory
            self._running.popleft().result()
        future = self._pool.submit(_read, image, options, number, reason, text)
        self._running.append(future)
        self._slots[slot] = future

    def pages(self) -> list[Page]:
        self.read_rendered()
        pages: list[Page] = []
        for slot in self._slots:
            assert slot is not None  # every rendered page was read above
            pages.append(slot.result() if isinstance(slot, Future) else slot)
        return pages

    def _render_scale(self, page: pdfium.PdfPage, number: int) -> float:
        """The OCR rendering scale, once the page's pixels at it are known to be within the limit.

        Checked from the page's size before PDFium allocates the bitmap: a few bytes of PDF can
        declare a 200 x 200 inch page, 3.6 gigapixels at 300 dpi.
        """
        limit = self.limits.image_pixels
        scale = self.options.dpi / 72
        width, height = (math.ceil(max(side, 0.0) * scale) for side in page.get_size())
        if width * height > limit:
            raise DocumentTooLarge(
                f"page {number} renders for OCR to {width:,} x {height:,} pixels at "
                f"{self.options.dpi} dpi (POLRAG_OCR_DPI), more than {limit:,}",
                "POLRAG_MAX_IMAGE_PIXELS",
            )
        # PDFium decodes each image whole to draw it, whatever size it is drawn at: a 2 MB PDF
        # can hold a 45,000 x 45,000 image of zeros (2 GB). Its size is in its dictionary.
        for image_width, image_height in image_sizes(page):
            if image_width * image_height > limit:
                raise DocumentTooLarge(
                    f"page {number} holds an image of {image_width:,} x {image_height:,} pixels, "
                    f"more than {limit:,}",
                    "POLRAG_MAX_IMAGE_PIXELS",
                )
        return scale

    def _missing_ocr(self) -> OcrUnavailable | None:
        """Why OCR cannot run here (checked once per document), or None."""
        if not self._checked:
            self._checked = True
            try:
                check_available(self.options)
            except OcrUnavailable as exc:
                self._unavailable = exc
        return self._unavailable


def _read(image: Any, options: OcrOptions, number: int, reason: str, text: str) -> Page:
    scanned = read_image(image, options, number)
    log.debug("page %d read by OCR (%s), confidence %.1f", number, reason, scanned.confidence or 0)
    # For a layer of unknown words the OCR'd words must be more Polish, or it stays (an English page).
    if reason.endswith("few known words") and (known_word_share(scanned.text) or 0.0) <= (
        known_word_share(text) or 0.0
    ):
        return Page(number, text)
    return scanned


def image_share(page: pdfium.PdfPage) -> float:
    """The share of the page's area that images cover (overlaps may count twice; capped at 1)."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    if width <= 0 or height <= 0:
        return 0.0
    covered = 0.0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        left, bottom, right, top = obj.get_bounds()
        across = max(0.0, min(right, width) - max(left, 0.0))
        covered += across * max(0.0, min(top, height) - max(bottom, 0.0))
    return min(covered / (width * height), 1.0)
