"""PDFium's process-wide lock is not held while Tesseract reads a page: the server's page images
(which take the same lock) wait for a page to be rendered, never for it to be OCR'd."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ingest.loaders import pdf_ocr
from ingest.loaders.pdf import load_pdf
from rag.pdfium_lock import PDFIUM_LOCK
from tests.ingest.ocr_fixtures import LINES, image_pdf, require_ocr, text_image

WORDS = ("pierwsza", "druga", "trzecia")


def lock_free_elsewhere() -> bool:
    """Whether another thread could take PDFium's lock now (it is re-entrant on this one)."""
    taken: list[bool] = []

    def attempt() -> None:
        got = PDFIUM_LOCK.acquire(timeout=0.2)
        taken.append(got)
        if got:
            PDFIUM_LOCK.release()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    return taken[0]


@pytest.mark.parametrize("threads", [1, 2])
def test_ocr_of_a_scanned_pdf_runs_without_the_pdfium_lock(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    options = replace(require_ocr(), threads=threads)
    real_read = pdf_ocr.read_image
    free_while_reading: list[bool] = []

    def read_image(image: Any, *args: Any, **kwargs: Any) -> Any:
        free_while_reading.append(lock_free_elsewhere())
        return real_read(image, *args, **kwargs)

    monkeypatch.setattr(pdf_ocr, "read_image", read_image)
    scan = image_pdf(*(text_image([f"Strona {word}.", *LINES]) for word in WORDS))
    pages = load_pdf(scan, ocr=options)
    assert [page.method for page in pages] == ["ocr", "ocr", "ocr"]
    assert [word in page.text for word, page in zip(WORDS, pages, strict=True)] == [True, True, True]
    if threads == 1:  # read on the loading thread: the lock must be let go first
        assert free_while_reading == [True, True, True]
