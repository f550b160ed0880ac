"""The writer of a collection: adds, replaces and deletes documents under its lock."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.analysis import default_analyzer
from rag.originals import OriginalStore
from rag.store import StoredDocument
from rag.types import Chunk, DocumentInfo, ParsedDocument

if TYPE_CHECKING:
    from rag.collection import Collection


class CollectionWriter:
    """Adds, replaces and deletes documents while holding the collection's lock."""

    def __init__(self, collection: Collection) -> None:
        self._collection = collection
        self._dirty = False

    def existing(self, file_name: str, sha256: str) -> DocumentInfo | None:
        """The stored document of this name with exactly these bytes (ingesting it is a no-op)."""
        document = self._collection.catalog.find_by_name(file_name)
        return document if document is not None and document.sha256 == sha256 else None

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
        collection = self._collection
        previous = collection.catalog.find_by_name(document.file_name)
        if previous is not None and previous.sha256 == document.sha256:
            self.keep_original(previous.sha256, original)
            return "unchanged", previous.id
        document_id = document_id_for(document.sha256, document.file_name)
        lexical = [lexical_entry(chunk.text, chunk.heading, chunk.terms) for chunk in chunks]
        collection.commit_document(
            document,
            document_id,
            chunks,
            vectors,
            lexical,
            replaces=previous.id if previous else None,
            source_path=source_path,
            original=original,
        )
        self._dirty = True
        return ("replaced" if previous else "added"), document_id

    def keep_original(self, sha256: str, original: Path | None) -> None:
        """Keep the original of a document stored before originals were (its bytes are ``sha256``)."""
        if original is not None and self._collection.catalog.sha256_used(sha256):
            self._collection.originals.put(sha256, original)

    def restore(self, stored: StoredDocument) -> None:
        """Store a document copied from another store as it was (ids, vectors and terms kept)."""
        collection = self._collection
        info = stored.info
        previous = collection.catalog.find_by_name(info.file_name)
        if previous is not None and previous.id == info.id:
            return
        document = ParsedDocument(info.file_name, info.media_type, info.sha256, stored.pages, info.size_bytes)
        if stored.original is not None:
            _put_bytes(collection.originals, info.sha256, stored.original)
        collection.commit_document(
            document,
            info.id,
            stored.chunks,
            stored.vectors,
            list(stored.lexical),
            replaces=previous.id if previous else None,
            source_path=info.source_path,
            page_count=info.pages,
            chunk_ids=stored.chunk_ids,
            added_at=info.added_at,
        )
        self._dirty = True

    def delete(self, document_id: str) -> bool:
        collection = self._collection
        if collection.catalog.get_document(document_id) is None:
            return False
        collection.commit_delete(document_id)
        self._dirty = True
        return True

    def flush(self) -> None:
        """Save the vector and BM25 files now (the catalogue is already durable)."""
        if self._dirty:
            self._collection.save_indexes()
            self._dirty = False


def lexical_entry(text: str, heading: str, terms: str = "") -> tuple[str, str]:
    """(terms, heading terms) for the BM25 index; ``terms`` when the parser already made them."""
    analyzer = default_analyzer()
    return terms or analyzer.analyse_text(text), analyzer.heading_terms(heading, text)


def document_id_for(sha256: str, file_name: str) -> str:
    """A document is its name with its bytes: the same file again keeps its id, a copy under
    another name is a document of its own (deleting one never takes the other's text)."""
    return hashlib.sha256(f"{file_name}\0{sha256}".encode()).hexdigest()[:24]


def _put_bytes(originals: OriginalStore, sha256: str, data: bytes) -> None:
    """Keep an original given as bytes (a copy from another store): through a temporary file,
    so the store's own durable put, with its hash check, does the work."""
    with tempfile.NamedTemporaryFile(prefix=".polrag-original-") as tmp:
        tmp.write(data)
        tmp.flush()
        originals.put(sha256, Path(tmp.name))
