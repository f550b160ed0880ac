"""The OCR benchmark's reference: the text a reader sees on a PDF page, from its text layer.

A scan can show only what is painted, so the OCR of a scan must not be charged for text that
is not: ``rag.pdf_drawn_text``'s "painted" policy (ingest keeps invisible and white text,
which a searchable scan and a dark band need; the reference drops them too).
"""

from __future__ import annotations

from typing import Any

from rag.pdf_drawn_text import crop_box, drawn_text


def visible_text(page: Any) -> tuple[str, int]:
    """The page's text as ``get_text_range`` gives it, less what is not drawn; and the count dropped."""
    textpage = page.get_textpage()
    try:
        text, _ = drawn_text(textpage, crop_box(page), "painted")
        return text, len(textpage.get_text_range()) - len(text)
    finally:
        textpage.close()
