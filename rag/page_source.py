"""What page images and the text view read from a collection: a narrow seam another store implements.

The embedded folder store (:class:`rag.collection.Collection`) keeps page texts in its catalogue and
originals as files (:mod:`rag.originals`); a database store keeps the same in tables (the originals'
bytes by sha256).
"""

from __future__ import annotations

from typing import Protocol

from rag.manifest import Manifest
from rag.types import ChunkSpan, OcrWord


class PageSource(Protocol):
    """A collection's pages: their texts, OCR words, the chunks on them and the original files."""

    name: str
    manifest: Manifest

    def page_words(self, document_id: str, page: int) -> tuple[OcrWord, ...]:
        """The words OCR read on one page, boxed as fractions of the page; () for a text-layer page."""
        ...

    def page_text(self, document_id: str, page: int | None) -> tuple[int, str] | None:
        """(start in the document's text, cleaned text) of one page (None: the one page of a
        document without pages); None when not stored."""
        ...

    def passage(self, chunk_id: int) -> ChunkSpan | None:
        """Where one chunk lies: its document, pages and span in the document's text."""
        ...

    def passages_near(self, document_id: str, ordinal: int, around: int) -> list[ChunkSpan]:
        """The chunks ``around`` ordinals either side of ``ordinal`` (and it), in order."""
        ...

    def passages_on_page(self, document_id: str, page: int) -> list[ChunkSpan]:
        """The document's chunks that start, end or run over ``page``, in order."""
        ...

    def original(self, sha256: str) -> bytes | None:
        """The original file with these bytes, or None when it is not kept."""
        ...
