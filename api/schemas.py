"""Request and response models of the HTTP API (the OpenAPI schema is built from these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.progress import Stage
from rag.settings import COLLECTION_NAME

Mode = Literal["hybrid", "dense", "lexical"]
CollectionName = Field(
    None, pattern=COLLECTION_NAME.pattern, description="Collection (default: POLRAG_COLLECTION)."
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class HitOut(BaseModel):
    document: str
    document_id: str
    page: int | None
    text: str
    score: float
    chunk_id: int


class PassageOut(HitOut):
    n: int


class CitationOut(BaseModel):
    n: int
    document: str
    document_id: str
    page: int | None
    chunk_id: int
    text: str
    inferred: bool


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class OcrPageOut(BaseModel):
    """A page read by OCR: its mean word confidence (0-100), flagged under the confidence floor."""

    page: int | None
    confidence: float | None
    words: int
    low_confidence: bool


class DocumentOut(BaseModel):
    """A stored document; built from rag's DocumentInfo, leaving out its server-side source path."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    file_name: str
    media_type: str
    sha256: str
    pages: int
    chunks: int
    size_bytes: int
    added_at: str
    read_by: Literal["text", "ocr", "mixed"] = Field(
        "text", description="How the text was read: the file's own text, OCR of every page, or both."
    )
    ocr_pages: list[OcrPageOut] | None = Field(
        None, description="Pages read by OCR (only in the single-document view; [] when none)."
    )


class TextViewOut(BaseModel):
    """A page's text, or a passage in its context; ``highlights`` are [start, end) offsets into ``text``."""

    document_id: str
    file_name: str
    page: int | None
    pages: int
    has_page_images: bool
    text: str
    highlights: list[list[int]]


class DocumentList(BaseModel):
    collection: str
    documents: list[DocumentOut]


class FileResult(BaseModel):
    id: str | None = None
    filename: str
    status: Literal["pending", "added", "replaced", "unchanged", "failed"] = Field(
        description="What happened to the file; 'pending' while a background job has not finished it."
    )
    pages: int = 0
    chunks: int = 0
    error: str | None = None
    limit: str | None = Field(default=None, description="The setting a failed file is over, if that is why.")
    stage: Stage = Field(
        default="done", description="Where the file is in the ingest (a background job's progress)."
    )
    ocr_page: int | None = Field(default=None, description="While stage is 'ocr': the page OCR is reading.")
    ocr_pages: int | None = Field(default=None, description="While stage is 'ocr': the document's pages.")


class UploadResult(BaseModel):
    collection: str
    files: list[FileResult]


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    collection: str
    total: int
    processed: int
    files: list[FileResult]
    error: str | None = None
    url: str


class SearchRequest(Strict):
    query: str = Field(..., min_length=1, max_length=4000)
    k: int = Field(5, ge=1, le=100)
    mode: Mode = "hybrid"
    collection: str | None = CollectionName
    document_ids: list[str] | None = Field(None, max_length=1000)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class SearchResponse(BaseModel):
    hits: list[HitOut]


class Turn(Strict):
    role: Literal["user", "assistant"]
    content: str = Field(..., max_length=20_000)


class AskRequest(Strict):
    question: str = Field(..., min_length=1, max_length=4000)
    history: list[Turn] = Field(default_factory=list, max_length=50)
    k: int | None = Field(None, ge=1, le=50)
    collection: str | None = CollectionName
    document_ids: list[str] | None = Field(None, max_length=1000)
    stream: bool = False

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class AskResponse(BaseModel):
    answer: str
    citations: list[CitationOut]
    passages: list[PassageOut]
    model: str
    usage: UsageOut
    dropped_citations: list[int]
    finish_reason: Literal["stop", "length"] = "stop"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # clients send name, tool_calls, ...
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, object]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send options polrag ignores
    model: str = Field("polrag", max_length=200)
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=200)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    temperature: float | None = Field(None, ge=0, le=2)
    collection: str | None = CollectionName
    k: int | None = Field(None, ge=1, le=50)


class CollectionOut(BaseModel):
    name: str
    documents: int | None = Field(description="Documents stored; null when the collection cannot open.")
    chunks: int | None = Field(description="Chunks in the catalogue.")
    vectors: int | None = Field(None, description="Vectors in the FAISS index (= chunks but mid-write).")
    lexical_rows: int | None = Field(None, description="Chunks in the BM25 index (= chunks but mid-write).")
    error: str | None = Field(None, description="Why the collection cannot be opened, if it cannot.")


class CollectionList(BaseModel):
    collections: list[CollectionOut]
