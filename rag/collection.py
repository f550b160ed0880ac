"""A collection: a folder with a manifest, a SQLite catalogue and derived search indexes.

Write path: each document is one SQLite transaction (chunks and vectors together); the
FAISS and BM25 files are caches of the catalogue, saved atomically after a batch and
caught up from the catalogue whenever they lag (after a crash, or another process's
write) or cannot be read. So a kill -9 at any moment loses at most the document being
written. Searches never wait for a write: see :mod:`rag.derived_indexes`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rag.analysis import ANALYSIS_VERSION
from rag.catalog import Catalog
from rag.catalog_export import stored_document
from rag.collection_writer import CollectionWriter, document_id_for, lexical_entry
from rag.derived_indexes import VECTORS, VECTORS_STATE, DerivedIndexes
from rag.errors import CollectionBusy, CollectionNotFound
from rag.files import WRITE_LOCK, file_lock, read_json, write_json
from rag.lexical_index import LexicalIndex
from rag.manifest import FORMAT_VERSION, MANIFEST, Manifest, creation_stamp, list_collections, read_manifest
from rag.originals import OriginalStore
from rag.settings import check_collection_name
from rag.store import StoredDocument, StoreStats
from rag.types import Chunk, ChunkSpan, DocumentInfo, Hit, OcrWord, PageRead, ParsedDocument
from rag.vector_index import VectorIndex

__all__ = [
    "CATALOG",
    "FORMAT_VERSION",
    "MANIFEST",
    "VECTORS",
    "VECTORS_STATE",
    "WRITE_LOCK",
    "Collection",
    "CollectionWriter",
    "Manifest",
    "document_id_for",
    "lexical_entry",
    "list_collections",
    "read_manifest",
]

log = logging.getLogger(__name__)

CATALOG = "catalog.sqlite3"


class Collection:
    """An open collection in the embedded store (a :class:`rag.store.Store`). Searches are
    thread-safe; writes go through :meth:`writer`."""

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        *,
        lock_timeout: float = 60.0,
        ann_threshold: int = 200_000,
        ann_nprobe: int | None = None,
    ) -> None:
        self.folder = folder
        self.name = folder.name
        self.manifest = manifest
        self.lock_timeout = lock_timeout
        self.ann_threshold = ann_threshold
        # The folder this collection was opened in: a writer checks it is still there, under its name.
        self._folder_id = _folder_id(folder)
        self.catalog = Catalog(folder / CATALOG)
        self.originals = OriginalStore(folder)
        self._indexes = DerivedIndexes(
            folder, self.catalog, manifest.dimension, name=self.name, nprobe=ann_nprobe
        )
        with self._indexes.build_lock:
            self._indexes.catch_up()

    @classmethod
    def open(
        cls,
        index_dir: Path,
        name: str,
        expected: Manifest | None,
        *,
        create: bool = True,
        lock_timeout: float = 60.0,
        ann_threshold: int = 200_000,
        ann_nprobe: int | None = None,
    ) -> Collection:
        """Open (or create) collection ``name`` under ``index_dir``, checking its manifest against
        ``expected`` (None: take it as stored, for copying; such a call never creates)."""
        check_collection_name(name)
        folder = index_dir / name
        manifest_path = folder / MANIFEST
        if not manifest_path.exists():
            if not create or expected is None:
                raise CollectionNotFound(name, index_dir)
            folder.mkdir(parents=True, exist_ok=True)
            with file_lock(folder, lock_timeout, name):
                if not manifest_path.exists():
                    stamped = Manifest(**{**asdict(expected), "created_at": creation_stamp()})
                    write_json(manifest_path, asdict(stamped))
        manifest = read_manifest(folder)
        if expected is not None:
            manifest.check_compatible(expected, name)
        collection = cls(
            folder, manifest, lock_timeout=lock_timeout, ann_threshold=ann_threshold, ann_nprobe=ann_nprobe
        )
        collection._upgrade_analysis()
        collection._remove_orphan_originals()
        return collection

    def close(self) -> None:
        self.catalog.close()

    # -- reading -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._indexes.vectors)

    @property
    def _index(self) -> VectorIndex:  # for tests and benchmarks that inspect the index
        return self._indexes.vectors

    @property
    def _lexical(self) -> LexicalIndex:  # for tests and benchmarks that inspect the index
        return self._indexes.lexical

    def documents(self) -> list[DocumentInfo]:
        return self.catalog.list_documents()

    def document(self, document_id: str) -> DocumentInfo | None:
        return self.catalog.get_document(document_id)

    def page_words(self, document_id: str, page: int) -> tuple[OcrWord, ...]:
        """The words OCR read on one page, boxed as fractions of the page; () for a text-layer page."""
        return self.catalog.page_words(document_id, page)

    def page_text(self, document_id: str, page: int | None) -> tuple[int, str] | None:
        """(start in the document's text, cleaned text) of one page; None when not stored."""
        return self.catalog.page_text(document_id, page)

    def passage(self, chunk_id: int) -> ChunkSpan | None:
        """Where one chunk lies: its document, pages and span in the document's text."""
        return self.catalog.chunk(chunk_id)

    def passages_near(self, document_id: str, ordinal: int, around: int) -> list[ChunkSpan]:
        """The chunks ``around`` ordinals either side of ``ordinal`` (and it), in order."""
        return self.catalog.neighbours(document_id, ordinal, around)

    def passages_on_page(self, document_id: str, page: int) -> list[ChunkSpan]:
        """The document's chunks that start, end or run over ``page``, in order."""
        return self.catalog.chunks_on_page(document_id, page)

    def original(self, sha256: str) -> bytes | None:
        """The original file with these bytes, or None when it is not kept."""
        return self.originals.get(sha256)

    def chunks_of(self, document_id: str) -> list[Hit]:
        return self.catalog.chunks_of(document_id)

    def page_reads(self, document_id: str) -> list[PageRead]:
        return self.catalog.page_reads(document_id)

    def stats(self) -> StoreStats:
        documents = len(self.catalog.list_documents())
        return StoreStats(documents, self.catalog.chunk_count(), len(self), len(self._indexes.lexical))

    def export(self) -> Iterator[StoredDocument]:
        for info in self.documents():
            yield stored_document(
                self.catalog, info, self.manifest.dimension, self.originals.get(info.sha256)
            )

    def search(
        self, query_vectors: np.ndarray, k: int, *, document_ids: Sequence[str] | None = None
    ) -> list[list[Hit]]:
        """Top-``k`` chunks per query vector, best first, optionally within some documents."""
        self.refresh()
        allowed = None if document_ids is None else self.catalog.chunk_ids_of(document_ids)
        if allowed is not None and len(allowed) == 0:
            return [[] for _ in range(len(query_vectors))]
        scores, ids = self._indexes.search_vectors(query_vectors, k, allowed)
        results = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            keep = row_ids >= 0
            results.append(self.catalog.hits(row_ids[keep].tolist(), row_scores[keep].tolist()))
        return results

    def lexical_search(
        self,
        terms: Sequence[str | tuple[str, ...]],
        k: int,
        *,
        document_ids: Sequence[str] | None = None,
        headings_only: bool = False,
    ) -> list[Hit]:
        """Top-``k`` chunks by BM25 over analysed ``terms`` (see :mod:`rag.analysis`);
        ``headings_only`` looks only at the legal unit each chunk belongs to."""
        self.refresh()
        allowed = None if document_ids is None else self.catalog.chunk_ids_of(document_ids)
        lexical = self._indexes.lexical  # one read: a swap meanwhile does not matter
        ids, scores = lexical.search(terms, k, headings_only=headings_only, allowed=allowed)
        return self.catalog.hits(ids.tolist(), scores.tolist())

    def refresh(self) -> None:
        """Catch up with writes made by other processes since the last look.

        When a writer of this process, or another search, is changing the indexes already,
        this returns at once: the search then reads what is published (that writer holds
        the file lock, so there is nothing newer to catch up with but its own writes)."""
        indexes = self._indexes
        if not indexes.behind():
            return
        if not indexes.build_lock.acquire(blocking=False):
            return
        try:
            if indexes.behind():
                indexes.catch_up()
        finally:
            indexes.build_lock.release()

    # -- writing -----------------------------------------------------------------

    @contextmanager
    def writer(self, *, bulk: int = 0) -> Iterator[CollectionWriter]:
        """Exclusive write access (a file lock across processes); saves the indexes on exit.
        ``bulk`` changes nothing here: the indexes are built aside and saved once per writer."""
        with self._write_lock(), self._indexes.build_lock:
            if self._indexes.behind():
                self._indexes.catch_up()
            self._sweep_originals()
            writer = CollectionWriter(self)
            try:
                yield writer
            finally:
                writer.flush()

    def delete_document(self, document_id: str) -> bool:
        with self.writer() as writer:
            return writer.delete(document_id)

    def commit_document(
        self,
        document: ParsedDocument,
        document_id: str,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        lexical: list[tuple[str, str]],
        *,
        replaces: str | None,
        source_path: str,
        original: Path | None = None,
        page_count: int | None = None,
        chunk_ids: Sequence[int] | None = None,
        added_at: str | None = None,
    ) -> None:
        """Store a document (replacing document ``replaces``) in the catalogue, then in the
        indexes. Only for :class:`CollectionWriter`, which holds the locks.

        ``original`` (the file's bytes) is kept durably before the commit that references it."""
        catalog = self.catalog
        if original is not None:
            self.originals.put(document.sha256, original)
        previous = catalog.get_document(replaces) if replaces else None
        with catalog.transaction() as db:
            removed = catalog.delete_document(db, replaces) if replaces else []
            ids = catalog.insert_document(
                db,
                document_id,
                file_name=document.file_name,
                media_type=document.media_type,
                sha256=document.sha256,
                pages=len(document.pages) if page_count is None else page_count,
                size_bytes=document.size_bytes,
                source_path=source_path,
                chunks=chunks,
                vectors=vectors,
                lexical=lexical,
                page_reads=document.pages,
                chunk_ids=chunk_ids,
                added_at=added_at,
            )
        self._indexes.apply(removed, ids, vectors, lexical, catalog.generation())
        if previous is not None:
            self._release_original(previous.sha256)

    def commit_delete(self, document_id: str) -> None:
        """Delete a document from the catalogue, then from the indexes (for the writer);
        its original goes once no other document has the same bytes."""
        document = self.catalog.get_document(document_id)
        with self.catalog.transaction() as db:
            removed = self.catalog.delete_document(db, document_id)
        no_vectors = np.zeros((0, self.manifest.dimension), np.float32)
        self._indexes.apply(removed, [], no_vectors, [], self.catalog.generation())
        if document is not None:
            self._release_original(document.sha256)

    def save_indexes(self) -> None:
        """Write the FAISS and BM25 files (for the writer, at the end of a batch)."""
        self._indexes.save(self.ann_threshold)

    # -- internals ---------------------------------------------------------------

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """The collection's write lock, or CollectionNotFound once another process deleted it.

        A writer may have opened the collection, then waited for the lock while a delete held it
        and renamed the folder away: it would write on into the deleted catalogue (open files
        outlive their names) and report documents stored that are gone, and the lock file would
        make an empty folder under the old name again.
        """
        if not self.folder.is_dir():
            raise CollectionNotFound(self.name, self.folder.parent)
        with file_lock(self.folder, self.lock_timeout, self.name):
            manifest = read_json(self.folder / MANIFEST)
            if self.gone() or manifest is None or manifest.get("created_at", "") != self.manifest.created_at:
                raise CollectionNotFound(self.name, self.folder.parent)
            yield

    def _release_original(self, sha256: str) -> None:
        """Delete an original after the commit that dropped its last document (a crash
        before this leaves an orphan for :meth:`_sweep_originals`, never a missing original)."""
        if not self.catalog.sha256_used(sha256):
            self.originals.delete(sha256)

    def _sweep_originals(self) -> None:
        """Remove originals no document references (under the write lock: no put in flight)."""
        removed = self.originals.remove_orphans(self.catalog.sha256s())
        if removed:
            log.info("collection %s: %d orphan original file(s) removed", self.name, removed)

    def _remove_orphan_originals(self) -> None:
        """The sweep at open, only when the lock is free at once: a running writer sweeps at its start."""
        if not self.originals.folder.is_dir():
            return
        try:
            with file_lock(self.folder, 0.0, self.name):
                self._sweep_originals()
        except (CollectionBusy, OSError):  # busy, or deleted meanwhile: the next writer sweeps
            pass

    def gone(self) -> bool:
        """Whether the folder under this collection's name is no longer the one it was opened in
        (deleted, or deleted and made again, by another process or thread)."""
        return _folder_id(self.folder) != self._folder_id

    def _upgrade_analysis(self) -> None:
        """(Re-)analyse chunks whose terms are missing or came from an older analyzer."""
        catalog = self.catalog
        current = str(ANALYSIS_VERSION)
        if catalog.meta("analysis_version") == current and catalog.lexical_count() == catalog.chunk_count():
            return
        with self._write_lock(), self._indexes.build_lock:
            if catalog.meta("analysis_version") != current:
                with catalog.transaction() as db:
                    db.execute("DELETE FROM chunk_terms")
                    catalog.set_meta(db, "analysis_version", current)
            while rows := catalog.chunks_missing_lexical():
                entries = [(chunk_id, *lexical_entry(text, heading)) for chunk_id, text, heading in rows]
                with self.catalog.transaction() as db:
                    db.executemany("INSERT INTO chunk_terms(id, terms, heading) VALUES (?, ?, ?)", entries)
            log.info("collection %s: chunks analysed (analysis version %s)", self.name, current)
            self._indexes.reset_lexical()  # same ids, new terms: the in-memory index starts over
            self._indexes.catch_up()


def _folder_id(folder: Path) -> int | None:
    try:
        return folder.stat().st_ino
    except OSError:
        return None
