"""One lock for every PDFium call in the process: PDFium is not thread-safe, not even across
different documents, and the server renders page images while a job thread ingests PDFs."""

from __future__ import annotations

import threading

PDFIUM_LOCK = threading.RLock()
