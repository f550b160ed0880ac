"""Per-document limits: what one file may cost in characters, pages, chunks and markup.

A small file can still expand into gigabytes (a zip bomb, a PDF of 20,000 blank pages);
the loaders count as they extract and stop at the first limit passed, so a refusal costs
seconds and little memory, never the whole expansion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.errors import DocumentTooLarge

if TYPE_CHECKING:
    from rag.settings import Settings


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """The limits one document is held to; the defaults are those of :class:`Settings`."""

    chars: int = 5_000_000
    pages: int = 5_000
    chunks: int = 20_000
    markup_bytes: int = 64 * 2**20
    compression_ratio: int = 100
    image_pixels: int = 89_478_485  # Pillow's default MAX_IMAGE_PIXELS

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentLimits:
        return cls(
            chars=settings.max_document_chars,
            pages=settings.max_document_pages,
            chunks=settings.max_document_chunks,
            markup_bytes=settings.max_markup_mb * 2**20,
            compression_ratio=settings.max_compression_ratio,
            image_pixels=settings.max_image_pixels,
        )

    def check_pages(self, count: int) -> None:
        if count > self.pages:
            raise DocumentTooLarge(
                f"document has {count:,} pages, more than {self.pages:,}", "POLRAG_MAX_DOCUMENT_PAGES"
            )

    def check_chars(self, count: int) -> None:
        if count > self.chars:
            raise DocumentTooLarge(
                f"document text is over {self.chars:,} characters", "POLRAG_MAX_DOCUMENT_CHARS"
            )

    def check_chunks(self, count: int) -> None:
        if count > self.chunks:
            raise DocumentTooLarge(
                f"document makes {count:,} chunks, more than {self.chunks:,}", "POLRAG_MAX_DOCUMENT_CHUNKS"
            )

    def check_pixels(self, width: int, height: int) -> None:
        if width * height > self.image_pixels:
            raise DocumentTooLarge(
                f"image is {width:,} x {height:,} pixels, more than {self.image_pixels:,}",
                "POLRAG_MAX_IMAGE_PIXELS",
            )

    def check_markup(self, size: int, what: str) -> None:
        if size > self.markup_bytes:
            raise DocumentTooLarge(
                f"{what} is over {self.markup_bytes / 2**20:g} MiB", "POLRAG_MAX_MARKUP_MB"
            )


DEFAULT_LIMITS = DocumentLimits()


class TextBudget:
    """Counts the pages and characters a loader extracts; raises at the first one over a limit."""

    def __init__(self, limits: DocumentLimits) -> None:
        self.limits = limits
        self.chars = 0
        self.pages = 0

    def add_text(self, text: str) -> str:
        self.chars += len(text)
        self.limits.check_chars(self.chars)
        return text

    def add_page(self) -> None:
        self.pages += 1
        self.limits.check_pages(self.pages)
