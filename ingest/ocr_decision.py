"""Which PDF pages need OCR: a page's text layer judged by measurement, not by its presence.

Pure functions over a page's extracted text (and how much of the page images cover), so the
decision can be tested and explained: each returns the reason a page is OCR'd, or None.
"""

from __future__ import annotations

import re

from ingest.ocr import OcrMode

# A page with less text than this is "little" when images cover most of it (a scan with a
# stamp's worth of text layer, a signature line typed over a scanned annex).
LITTLE_TEXT_CHARS = 200
MOSTLY_IMAGE = 0.5  # share of the page's area covered by images
# Broken font encodings: PDFium's U+FFFD for unmapped glyphs, pdfminer-style "(cid:12)" runs.
UNMAPPED = re.compile(r"\ufffd|\(cid:\d+\)")
UNMAPPED_SHARE = 0.05  # of the page's non-space characters
# Text layers written one glyph per line (some scanners' invisible layers, rotated tables).
SINGLE_CHAR_LINES_SHARE = 0.5
MIN_LINES = 20
# Words morfeusz2 recognises: Polish prose scores above 0.8, a layer from a wrong encoding
# ("Vwdwxw") near 0. The OCR'd text must then beat the layer, so an English page stays as it is.
MIN_KNOWN_WORDS = 0.5
MIN_WORDS = 20
SAMPLE_WORDS = 100
WORD = re.compile(r"[^\W\d_]{2,}")


def ocr_reason(text: str, image_share: float, mode: OcrMode) -> str | None:
    """Why this page should be OCR'd (``"no text layer"``, ``"garbage text layer: ..."``, ...) or None."""
    if mode == "off":
        return None
    if mode == "force":
        return "OCR forced"
    stripped = text.strip()
    if not stripped:
        return "no text layer"
    if len(stripped) < LITTLE_TEXT_CHARS and image_share >= MOSTLY_IMAGE:
        return "images cover the page, little text layer"
    visible = sum(1 for c in stripped if not c.isspace())
    unmapped = sum(len(m.group()) for m in UNMAPPED.finditer(stripped))
    if unmapped / max(visible, 1) > UNMAPPED_SHARE:
        return "garbage text layer: unmapped characters"
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    single = sum(len(line) <= 1 for line in lines)
    if len(lines) >= MIN_LINES and single / len(lines) >= SINGLE_CHAR_LINES_SHARE:
        return "garbage text layer: one character per line"
    share = known_word_share(stripped)
    if share is not None and share < MIN_KNOWN_WORDS:
        return "garbage text layer: few known words"
    return None


def known_word_share(text: str) -> float | None:
    """The share of ``text``'s words morfeusz2 recognises; None for fewer than MIN_WORDS words."""
    from rag.analysis import default_analyzer

    words = WORD.findall(text)
    if len(words) < MIN_WORDS:
        return None
    analyzer = default_analyzer()
    sample = words[:: max(1, len(words) // SAMPLE_WORDS)]  # spread over the page, cheap on long ones
    return sum(analyzer.knows(word.lower()) for word in sample) / len(sample)
