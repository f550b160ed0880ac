"""The text view of a stored document: a page's cleaned text, or a passage in its context, with the
passage's character spans, for documents without page images and as the page's readable text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.errors import PageNotFound
from rag.page_images import has_page_images
from rag.types import ChunkSpan, DocumentInfo

if TYPE_CHECKING:
    from rag.page_source import PageSource

CONTEXT_CHARS = 6000  # a passage with its neighbours: enough to read it in context, small to send
NEIGHBOURS = 3


@dataclass(frozen=True, slots=True)
class TextView:
    """Text to show, and the [start, end) spans of the highlighted passage in it."""

    document_id: str
    file_name: str
    page: int | None
    pages: int
    has_page_images: bool
    text: str
    highlights: list[tuple[int, int]] = field(default_factory=list)


def passage_of(collection: PageSource, document: DocumentInfo, chunk_id: int) -> ChunkSpan:
    """The stored passage ``chunk_id`` of ``document``; PageNotFound when it is not one of its."""
    chunk = collection.passage(chunk_id)
    if chunk is None or chunk.document_id != document.id:
        raise PageNotFound(f"{document.file_name} has no passage {chunk_id}")
    return chunk


def text_view(
    collection: PageSource, document: DocumentInfo, page: int | None, chunk: ChunkSpan | None
) -> TextView:
    """A page's text (paged documents; the passage's first page when ``page`` is None), or the
    passage with its neighbouring text (documents without pages), bounded to ~6,000 characters."""
    unpaged = collection.page_text(document.id, None)
    paged = unpaged is None and (
        collection.page_text(document.id, 1) is not None
        or has_page_images(document.media_type)
        or _first_page(chunk) is not None
    )
    if paged:
        number = page if page is not None else _first_page(chunk) or 1
        if not 1 <= number <= document.pages:
            raise PageNotFound(f"{document.file_name} has {document.pages} page(s), not {number}")
        stored = collection.page_text(document.id, number)
        if stored is not None:
            start, text = stored
            spans = [_clip(chunk, start, len(text))] if chunk else []
            return _view(document, number, text, spans)
        # Stored before page texts were kept: the passages on that page, from the chunks.
        on_page = collection.passages_on_page(document.id, number)
        text, start = _joined(on_page)
        spans = [_clip(chunk, start, len(text))] if chunk else []
        return _view(document, number, text, spans)
    if unpaged is not None:
        start, whole = unpaged
        text, offset = _window(whole, start, chunk)
    else:  # before page texts were kept: the passage's neighbours
        around = collection.passages_near(document.id, chunk.ordinal if chunk else 0, NEIGHBOURS)
        joined, begin = _joined(around)
        text, offset = _window(joined, begin, chunk)
    spans = [_clip(chunk, offset, len(text))] if chunk else []
    return _view(document, None, text, spans)


def _view(
    document: DocumentInfo, page: int | None, text: str, spans: list[tuple[int, int] | None]
) -> TextView:
    return TextView(
        document_id=document.id,
        file_name=document.file_name,
        page=page,
        pages=document.pages,
        has_page_images=has_page_images(document.media_type),
        text=text,
        highlights=[span for span in spans if span is not None],
    )


def _first_page(chunk: ChunkSpan | None) -> int | None:
    return chunk.first_page if chunk is not None else None


def _clip(chunk: ChunkSpan | None, start: int, length: int) -> tuple[int, int] | None:
    """``chunk``'s span in a text that starts at ``start`` of the document's text; None if outside."""
    if chunk is None:
        return None
    begin = max(chunk.char_start - start, 0)
    end = min(chunk.char_end - start, length)
    return (begin, end) if end > begin else None


def _window(text: str, start: int, chunk: ChunkSpan | None) -> tuple[str, int]:
    """At most :data:`CONTEXT_CHARS` of ``text`` (which starts at ``start``) around the passage,
    cut at whitespace; returns the piece and where it starts in the document's text."""
    if len(text) <= CONTEXT_CHARS:
        return text, start
    if chunk is None:
        begin = 0
    else:
        passage = chunk.char_end - chunk.char_start
        begin = max(0, chunk.char_start - start - max(0, CONTEXT_CHARS - passage) // 2)
    end = min(len(text), begin + CONTEXT_CHARS)
    begin = max(0, end - CONTEXT_CHARS)
    if begin > 0 and (space := text.find(" ", begin, begin + 200)) >= 0:
        begin = space + 1
    if end < len(text) and (space := text.rfind(" ", end - 200, end)) >= 0:
        end = space
    return text[begin:end], start + begin


def _joined(chunks: Sequence[ChunkSpan]) -> tuple[str, int]:
    """The document's text that ``chunks`` cover (they overlap; gaps become spaces) and its start."""
    if not chunks:
        return "", 0
    begin = min(c.char_start for c in chunks)
    end = max(c.char_end for c in chunks)
    chars = [" "] * (end - begin)
    for c in chunks:
        chars[c.char_start - begin : c.char_end - begin] = c.text
    return "".join(chars), begin
