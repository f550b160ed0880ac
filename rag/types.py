"""Small frozen domain types shared by ingest, retrieval and the API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OcrWord:
    """A word OCR read, its confidence (0-100) and box as fractions of the page's width/height."""

    text: str
    confidence: float
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a document. ``number`` is 1-based, or None for formats without pages.

    ``method`` says how the text was read: ``"text"`` (the file's own text) or ``"ocr"``;
    an OCR'd page carries its mean word confidence (0-100) and its words with their boxes.
    ``offset`` is where the cleaned page starts in the document's text (set by chunking).
    """

    number: int | None
    text: str
    method: str = "text"
    confidence: float | None = None
    words: tuple[OcrWord, ...] = ()
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """What a loader returns: the file's identity and its pages of raw text."""

    file_name: str
    media_type: str
    sha256: str
    pages: tuple[Page, ...]
    size_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a document, the unit that is embedded and retrieved."""

    document_id: str
    file_name: str
    ordinal: int
    text: str
    first_page: int | None
    last_page: int | None
    char_start: int
    char_end: int
    heading: str = ""
    token_count: int = 0
    terms: str = ""  # analysed text for BM25; filled by the parser process when it can


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document as the catalogue knows it."""

    id: str
    file_name: str
    media_type: str
    sha256: str
    pages: int
    chunks: int
    size_bytes: int
    added_at: str
    source_path: str = ""
    ocr_page_count: int = 0

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> DocumentInfo:
        """From a catalogue row in the column order both stores select (``DOCUMENT_COLUMNS``,
        then the OCR page count and the chunk count)."""
        return cls(
            id=row[0],
            file_name=row[1],
            media_type=row[2],
            sha256=row[3],
            pages=row[4],
            size_bytes=row[5],
            added_at=row[6],
            source_path=row[7],
            ocr_page_count=row[8],
            chunks=row[9],
        )

    @property
    def read_by(self) -> str:
        """How the document's text was read: ``text`` (its own), ``ocr`` (every page) or ``mixed``."""
        if self.ocr_page_count == 0:
            return "text"
        return "ocr" if self.ocr_page_count >= max(self.pages, 1) else "mixed"


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """Where a stored chunk lies: its pages and its span in the document's cleaned text."""

    chunk_id: int
    document_id: str
    ordinal: int
    first_page: int | None
    last_page: int | None
    char_start: int
    char_end: int
    text: str


@dataclass(frozen=True, slots=True)
class PageRead:
    """How one page of a stored document was read: by OCR, with its mean word confidence (0-100).

    Only OCR'd pages are recorded; a page without a record was read from the file's own text.
    """

    page: int | None
    method: str
    confidence: float | None
    words: int = 0

    def low_confidence(self, floor: float) -> bool:
        """True when OCR read this page with a mean word confidence under ``floor``."""
        return self.method == "ocr" and (self.confidence or 0.0) < floor


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk with its score (higher is better)."""

    chunk_id: int
    document_id: str
    file_name: str
    page: int | None
    last_page: int | None
    text: str
    score: float
    heading: str = ""
    ordinal: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The public JSON shape of a search hit (see DESIGN.md)."""
        return {
            "document": self.file_name,
            "document_id": self.document_id,
            "page": self.page,
            "text": self.text,
            "score": round(self.score, 6),
            "chunk_id": self.chunk_id,
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """A passage an answer cites: ``n`` is its number in the prompt."""

    n: int
    document: str
    document_id: str
    page: int | None
    chunk_id: int
    text: str
    inferred: bool = False  # attributed by word overlap because the model wrote no [n]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens spent on one answer, counted by the generator's tokenizer (or reported by its server)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """A generated answer with its validated citations and the passages the model saw."""

    text: str
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]
    model: str
    usage: Usage = Usage()
    dropped_markers: tuple[int, ...] = ()  # [n] the model wrote that pointed at no passage shown
    grounded: bool = True  # False: no passage was relevant, the fixed answer was given
    finish_reason: str = "stop"  # "length": the model ran out of new tokens mid-answer

    def to_json(self) -> dict[str, object]:
        return {
            "answer": self.text,
            "citations": [citation.to_json() for citation in self.citations],
            "passages": [passage_json(n, hit) for n, hit in enumerate(self.passages, start=1)],
            "model": self.model,
            "usage": self.usage.to_json(),
            "dropped_citations": list(self.dropped_markers),
            "finish_reason": self.finish_reason,
        }


def passage_json(n: int, hit: Hit) -> dict[str, object]:
    """A passage as shown to the model: its number in the prompt plus the search-hit fields."""
    return {"n": n, **hit.to_json()}
