"""What a collection store must do, whichever one holds the collection.

Two implementations: the embedded folder (:class:`rag.collection.Collection`: SQLite catalogue,
FAISS and BM25 files derived from it) and PostgreSQL + pgvector (:mod:`rag.pg`). The retriever,
the ingest pipeline, the API and the CLI talk only to these protocols; tests/store runs one
contract suite against both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.manifest import Manifest
from rag.page_source import PageSource
from rag.types import Chunk, DocumentInfo, Hit, Page, PageRead, ParsedDocument

Terms = Sequence[str | tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Sizes of a collection: catalogue rows, and what its search indexes hold."""

    documents: int
    chunks: int  # catalogue rows: the source of truth
    vectors: int  # in the dense index: equal to chunks except during a write
    lexical_rows: int  # in the lexical index: likewise


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as stored, whole: what moving a collection to another store carries
    (ids, chunk ids and vectors kept, nothing re-embedded or re-analysed)."""

    info: DocumentInfo
    chunk_ids: tuple[int, ...]
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray  # float32, one row per chunk
    lexical: tuple[tuple[str, str], ...]  # (terms, heading terms) per chunk
    pages: tuple[Page, ...]  # every stored page: text and offset, and how it was read
    original: bytes | None = None  # the file itself, where it is kept


class StoreWriter(Protocol):
    """Adds, replaces and deletes documents; each document is one transaction."""

    def existing(self, file_name: str, sha256: str) -> DocumentInfo | None:
        """The stored document of this name with exactly these bytes (ingesting it is a no-op)."""
        ...

    def add(
        self,
        document: ParsedDocument,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        *,
        source_path: str = "",
        original: Path | None = None,
    ) -> tuple[str, str]:
        """Store a document; returns (status, document id), status added|replaced|unchanged.
        ``original`` is the file itself, kept (content-addressed) so its pages can be shown."""
        ...

    def keep_original(self, sha256: str, original: Path | None) -> None:
        """Keep the original of a document stored before originals were (its bytes are ``sha256``)."""
        ...

    def delete(self, document_id: str) -> bool:
        """Remove a document with its chunks, vectors and terms; False when there is none."""
        ...

    def restore(self, stored: StoredDocument) -> None:
        """Store a document exported from another store as it was (ids and vectors kept)."""
        ...

    def flush(self) -> None:
        """Make what was written durable in derived indexes too (a no-op where there are none)."""
        ...


class Store(PageSource, Protocol):
    """One open collection. Reads are thread-safe; writes go through :meth:`writer`. The page
    reads of :class:`rag.page_source.PageSource` (page texts, OCR words, originals) come with it."""

    def documents(self) -> list[DocumentInfo]: ...

    def document(self, document_id: str) -> DocumentInfo | None: ...

    def chunks_of(self, document_id: str) -> list[Hit]:
        """The document's chunks in order (score 0)."""
        ...

    def page_reads(self, document_id: str) -> list[PageRead]:
        """The document's OCR'd pages in page order."""
        ...

    def stats(self) -> StoreStats: ...

    def search(
        self, query_vectors: np.ndarray, k: int, *, document_ids: Sequence[str] | None = None
    ) -> list[list[Hit]]:
        """Top-``k`` chunks per query vector by inner product, best first; a filter by
        ``document_ids`` still returns ``k`` hits when that many chunks match."""
        ...

    def lexical_search(
        self,
        terms: Terms,
        k: int,
        *,
        document_ids: Sequence[str] | None = None,
        headings_only: bool = False,
    ) -> list[Hit]:
        """Top-``k`` chunks by BM25 (k1 0.9, b 0.5, headings weighed 2) over analysed ``terms``;
        a tuple is one word's alternatives, scored by the best of them; ties by chunk id."""
        ...

    def writer(self, *, bulk: int = 0) -> AbstractContextManager[StoreWriter]:
        """Write access for a batch; stores what is derived on exit. ``bulk``: about how many
        chunks follow (0: an ordinary batch); for many, a store may defer its indexes and build
        them once on exit."""
        ...

    def delete_document(self, document_id: str) -> bool: ...

    def export(self) -> Iterator[StoredDocument]:
        """Every document whole, for copying the collection to another store."""
        ...

    def refresh(self) -> None:
        """Catch up with writes other processes made (change tracking)."""
        ...

    def gone(self) -> bool:
        """Whether the collection was deleted (maybe made again) since this handle opened it."""
        ...

    def close(self) -> None: ...


class StoreBackend(Protocol):
    """Where collections live: a folder of folders, or a database."""

    def open(self, name: str, expected: Manifest | None, *, create: bool) -> Store:
        """Open (or make) collection ``name``, checking its manifest against ``expected`` (None:
        take it as stored, for copying a collection; then a missing one is never made)."""
        ...

    def names(self) -> list[str]:
        """The collections there, sorted."""
        ...

    def delete(self, name: str, *, only_if_empty: bool = False) -> bool:
        """Remove a collection whole (CollectionNotFound when there is none); with
        ``only_if_empty`` one holding any document is kept and False returned."""
        ...

    def sweep(self) -> None:
        """Remove what deletions a crash interrupted left behind."""
        ...

    def close(self) -> None: ...
