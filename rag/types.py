"""Small frozen domain types shared by ingest, retrieval and the API."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a document. ``number`` is 1-based, or None for formats without pages."""

    number: int | None
    text: str


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
