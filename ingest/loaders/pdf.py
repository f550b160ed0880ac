"""PDF: pypdfium2 first (fast, keeps word spacing in justified Polish text), pypdf as fallback."""

from __future__ import annotations

import logging
from io import BytesIO

from ingest.limits import DEFAULT_LIMITS, DocumentLimits, TextBudget
from ingest.loaders.pdf_ocr import PageReader
from ingest.ocr import OcrOptions
from rag.errors import BadDocumentError
from rag.pdf_drawn_text import crop_box, drawn_text
from rag.pdfium_lock import PDFIUM_LOCK
from rag.types import Page

log = logging.getLogger(__name__)

ENCRYPTED = "encrypted PDF (password-protected); remove the password and try again"


def load_pdf(
    data: bytes, limits: DocumentLimits = DEFAULT_LIMITS, ocr: OcrOptions | None = None
) -> list[Page]:
    """One :class:`Page` per PDF page, numbered from 1: its text layer, or OCR where that is
    missing or garbage (see :mod:`ingest.ocr_decision`; ``ocr`` None: the settings' options).

    The page count is checked before any page is read: 20,000 blank pages are refused at once.
    """
    import pypdfium2 as pdfium

    try:
        with PDFIUM_LOCK:
            document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise BadDocumentError(ENCRYPTED) from None
        log.info("PDFium cannot open the file (%s); trying pypdf", exc)
        return _load_with_pypdf(data, pdfium_error=str(exc), limits=limits)
    try:
        with PDFIUM_LOCK:
            count = len(document)
        limits.check_pages(count)
        budget = TextBudget(limits)
        with PageReader(ocr, limits, pages=count) as reader:
            for index in range(count):
                # Per page, so a page image the server renders meanwhile waits one page at most;
                # its OCR runs after the lock is let go.
                with PDFIUM_LOCK:
                    page = document[index]
                    textpage = page.get_textpage()
                    text, _ = drawn_text(textpage, crop_box(page))  # not text clipped away
                    reader.add(page, index + 1, budget.add_text(text))
                    textpage.close()
                    page.close()
                reader.read_rendered()
            pages = reader.pages()
        for page in pages:  # OCR'd text counts against the limit too
            if page.method == "ocr":
                budget.add_text(page.text)
        return pages
    finally:
        with PDFIUM_LOCK:
            document.close()


def _load_with_pypdf(
    data: bytes, *, pdfium_error: str, limits: DocumentLimits = DEFAULT_LIMITS
) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    # pypdf warns of every repair it tries ("EOF marker not found") on the console, in the
    # middle of the progress bar; what matters comes back as the file's error instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadDocumentError(ENCRYPTED)
        limits.check_pages(len(reader.pages))
        budget = TextBudget(limits)
        return [
            Page(i + 1, budget.add_text(page.extract_text() or "")) for i, page in enumerate(reader.pages)
        ]
    except FileNotDecryptedError:
        raise BadDocumentError(ENCRYPTED) from None
    except BadDocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise BadDocumentError(f"corrupt PDF: {pdfium_error.rstrip('.')}; pypdf: {exc}") from None
