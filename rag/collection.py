"""A collection: a folder with a manifest, a SQLite catalogue and a FAISS vector file.

Write path: each document is one SQLite transaction (chunks and vectors together); the
FAISS file is a cache of the catalogue's vectors, saved atomically after a batch and
caught up from the catalogue whenever it lags (after a crash, or another process's
write). So a kill -9 at any moment loses at most the document being written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag.analysis import ANALYSIS_VERSION, default_analyzer
from rag.catalog import Catalog
from rag.errors import CollectionBusy, CollectionError, CollectionNotFound, EmbeddingMismatch
from rag.lexical_index import LexicalIndex
from rag.rwlock import ReadWriteLock
from rag.settings import check_collection_name
from rag.types import Chunk, DocumentInfo, Hit, ParsedDocument
from rag.vector_index import VectorIndex

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CATALOG = "catalog.sqlite3"
VECTORS = "vectors.faiss"
VECTORS_STATE = "vectors.state.json"
WRITE_LOCK = "write.lock"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a collection was built with; opening it with another embedder is refused."""

    embedding_model: str
    dimension: int
    query_prefix: str
    passage_prefix: str
    chunk_tokens: int
    chunk_overlap_tokens: int
    max_chunk_tokens: int
    format_version: int = FORMAT_VERSION
    created_at: str = ""

    def check_compatible(self, other: Manifest, name: str) -> None:
        if self.format_version > FORMAT_VERSION:
            raise CollectionError(
                f"collection {name!r} has format version {self.format_version}; "
                f"this polrag reads up to {FORMAT_VERSION}: upgrade polrag"
            )
        if self.embedding_model == other.embedding_model and self.dimension != other.dimension:
            raise EmbeddingMismatch(  # same name, other vectors: a server now serves another model
                f"collection {name!r} holds {self.dimension}-d vectors of {self.embedding_model!r}, "
                f"but the embedder now gives {other.dimension}-d vectors under that name; "
                "serve the model the collection was built with, or use another collection"
            )
        if (self.embedding_model, self.dimension) != (other.embedding_model, other.dimension):
            raise EmbeddingMismatch(
                f"collection {name!r} was built with embedding model {self.embedding_model!r} "
                f"({self.dimension}-d) but POLRAG_EMBEDDING_MODEL is {other.embedding_model!r} "
                f"({other.dimension}-d); set POLRAG_EMBEDDING_MODEL={self.embedding_model} "
                "or use another collection"
            )


class Collection:
    """An open collection. Searches are thread-safe; writes go through :meth:`writer`."""

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
        self.catalog = Catalog(folder / CATALOG)
        # Searches read the in-memory indexes together; catching up and writing take them alone.
        self._lock = ReadWriteLock()
        self._index = VectorIndex.load(folder / VECTORS, manifest.dimension, nprobe=ann_nprobe)
        self._lexical, self._lexical_generation = LexicalIndex.load(folder)
        self._generation = -1
        self._sync(trust_file=True)

    @classmethod
    def open(
        cls,
        index_dir: Path,
        name: str,
        expected: Manifest,
        *,
        create: bool = True,
        lock_timeout: float = 60.0,
        ann_threshold: int = 200_000,
        ann_nprobe: int | None = None,
    ) -> Collection:
        """Open (or create) collection ``name`` under ``index_dir``, checking its manifest."""
        check_collection_name(name)
        folder = index_dir / name
        manifest_path = folder / MANIFEST
        if not manifest_path.exists():
            if not create:
                raise CollectionNotFound(name, index_dir)
            folder.mkdir(parents=True, exist_ok=True)
            with _file_lock(folder, lock_timeout, name):
                if not manifest_path.exists():
                    stamped = Manifest(**{**asdict(expected), "created_at": _now()})
                    _write_json(manifest_path, asdict(stamped))
        manifest = read_manifest(folder)
        manifest.check_compatible(expected, name)
        collection = cls(
            folder, manifest, lock_timeout=lock_timeout, ann_threshold=ann_threshold, ann_nprobe=ann_nprobe
        )
        collection._upgrade_analysis()
        return collection

    def close(self) -> None:
        self.catalog.close()

    # -- reading -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._index)

    def documents(self) -> list[DocumentInfo]:
        return self.catalog.list_documents()

    def document(self, document_id: str) -> DocumentInfo | None:
        return self.catalog.get_document(document_id)

    def search(
        self, query_vectors: np.ndarray, k: int, *, document_ids: Sequence[str] | None = None
    ) -> list[list[Hit]]:
        """Top-``k`` chunks per query vector, best first, optionally within some documents."""
        self.refresh()
        allowed = None if document_ids is None else self.catalog.chunk_ids_of(document_ids)
        if allowed is not None and len(allowed) == 0:
            return [[] for _ in range(len(query_vectors))]
        with self._lock.read():
            scores, ids = self._index.search(query_vectors, k, allowed_ids=allowed)
        results = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            keep = row_ids >= 0
            results.append(self.catalog.hits(row_ids[keep].tolist(), row_scores[keep].tolist()))
        return results

    def lexical_search(
        self,
        terms: Sequence[str],
        k: int,
        *,
        document_ids: Sequence[str] | None = None,
        headings_only: bool = False,
    ) -> list[Hit]:
        """Top-``k`` chunks by BM25 over analysed ``terms`` (see :mod:`rag.analysis`);
        ``headings_only`` looks only at the legal unit each chunk belongs to."""
        self.refresh()
        allowed = None if document_ids is None else self.catalog.chunk_ids_of(document_ids)
        with self._lock.read():
            ids, scores = self._lexical.search(terms, k, headings_only=headings_only, allowed=allowed)
        return self.catalog.hits(ids.tolist(), scores.tolist())

    def refresh(self) -> None:
        """Catch up with writes made by other processes since the last look."""
        if self.catalog.generation() != self._generation:
            with self._lock.write():  # a writer in this process may have caught us up meanwhile
                if self.catalog.generation() != self._generation:
                    self._sync(trust_file=False)

    # -- writing -----------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[CollectionWriter]:
        """Exclusive write access (a file lock across processes); saves vectors on exit."""
        with _file_lock(self.folder, self.lock_timeout, self.name):
            self.refresh()
            writer = CollectionWriter(self)
            try:
                yield writer
            finally:
                writer.flush()

    def delete_document(self, document_id: str) -> bool:
        with self.writer() as writer:
            return writer.delete(document_id)

    # -- internals ---------------------------------------------------------------

    def _sync(self, *, trust_file: bool) -> None:
        """Make the FAISS and BM25 indexes hold exactly the catalogue's chunks."""
        with self._lock.write():
            generation = self.catalog.generation()
            count = self.catalog.chunk_count()
            lexical_ok = trust_file and self._lexical_generation == generation and len(self._lexical) == count
            if not lexical_ok:
                self._sync_lexical()
            trusted = trust_file and _read_state(self.folder) == generation
            if trusted and len(self._index) == count:
                self._generation = generation
                return
            wanted = self.catalog.chunk_ids()
            present = self._index.ids()
            extra = np.setdiff1d(present, wanted, assume_unique=True)
            missing = np.setdiff1d(wanted, present, assume_unique=True)
            if len(extra) or len(missing):
                log.info("collection %s: vectors caught up (+%d, -%d)", self.name, len(missing), len(extra))
            self._index.remove(extra)
            for start in range(0, len(missing), 50_000):
                ids, vectors = self.catalog.vectors_of(
                    missing[start : start + 50_000], self.manifest.dimension
                )
                self._index.add(ids, vectors)
            self._generation = generation

    def _forget(self, chunk_ids: list[int]) -> None:
        if chunk_ids:
            self._index.remove(np.asarray(chunk_ids, dtype=np.int64))
            self._lexical.remove(chunk_ids)

    def _sync_lexical(self) -> None:
        wanted = self.catalog.lexical_ids()
        present = self._lexical.chunk_ids()
        self._lexical.remove(np.setdiff1d(present, wanted, assume_unique=True).tolist())
        missing = np.setdiff1d(wanted, present, assume_unique=True)
        for start in range(0, len(missing), 50_000):
            self._lexical.add_many(self.catalog.lexical_rows(missing[start : start + 50_000]))

    def _upgrade_analysis(self) -> None:
        """(Re-)analyse chunks whose terms are missing or came from an older analyzer."""
        catalog = self.catalog
        current = str(ANALYSIS_VERSION)
        if catalog.meta("analysis_version") == current and catalog.lexical_count() == catalog.chunk_count():
            return
        with _file_lock(self.folder, self.lock_timeout, self.name):
            if catalog.meta("analysis_version") != current:
                with catalog.transaction() as db:
                    db.execute("DELETE FROM chunk_terms")
                    catalog.set_meta(db, "analysis_version", current)
            while rows := catalog.chunks_missing_lexical():
                entries = [(chunk_id, *lexical_entry(text, heading)) for chunk_id, text, heading in rows]
                with self.catalog.transaction() as db:
                    db.executemany("INSERT INTO chunk_terms(id, terms, heading) VALUES (?, ?, ?)", entries)
            log.info("collection %s: chunks analysed (analysis version %s)", self.name, current)
        with self._lock.write():  # same ids, new terms: the in-memory index starts over
            self._lexical, self._lexical_generation = LexicalIndex(), None
            self._sync(trust_file=False)

    def _save_indexes(self) -> None:
        with self._lock.write():
            self._index.upgrade_if_large(self.ann_threshold)
        # Only this writer changes the indexes, so searches may go on while the files are written.
        with self._lock.read():
            self._index.save(self.folder / VECTORS)
            _write_json(self.folder / VECTORS_STATE, {"generation": self._generation})
            self._lexical.save(self.folder, self._generation)
            self._lexical_generation = self._generation


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
    ) -> tuple[str, str]:
        """Store a document; returns (status, document id), status added|replaced|unchanged."""
        collection = self._collection
        previous = collection.catalog.find_by_name(document.file_name)
        if previous is not None and previous.sha256 == document.sha256:
            return "unchanged", previous.id
        document_id = document_id_for(document.sha256, document.file_name)
        lexical = [lexical_entry(chunk.text, chunk.heading, chunk.terms) for chunk in chunks]
        # One hold of the mutex for the commit and the index update: a search in this process
        # sees the document entirely or not at all.
        with collection._lock.write():
            with collection.catalog.transaction() as db:
                removed = collection.catalog.delete_document(db, previous.id) if previous else []
                ids = collection.catalog.insert_document(
                    db,
                    document_id,
                    file_name=document.file_name,
                    media_type=document.media_type,
                    sha256=document.sha256,
                    pages=len(document.pages),
                    size_bytes=document.size_bytes,
                    source_path=source_path,
                    chunks=chunks,
                    vectors=vectors,
                    lexical=lexical,
                )
            collection._forget(removed)
            collection._index.add(np.asarray(ids, dtype=np.int64), vectors)
            for chunk_id, (terms, heading) in zip(ids, lexical, strict=True):
                collection._lexical.add(chunk_id, terms.split(), heading.split())
            collection._generation = collection.catalog.generation()
        self._dirty = True
        return ("replaced" if previous else "added"), document_id

    def delete(self, document_id: str) -> bool:
        collection = self._collection
        if collection.catalog.get_document(document_id) is None:
            return False
        with collection._lock.write():
            with collection.catalog.transaction() as db:
                removed = collection.catalog.delete_document(db, document_id)
            collection._forget(removed)
            collection._generation = collection.catalog.generation()
        self._dirty = True
        return True

    def flush(self) -> None:
        """Save the vector and BM25 files now (the catalogue is already durable)."""
        if self._dirty:
            self._collection._save_indexes()
            self._dirty = False


def lexical_entry(text: str, heading: str, terms: str = "") -> tuple[str, str]:
    """(terms, heading terms) for the BM25 index; ``terms`` when the parser already made them."""
    analyzer = default_analyzer()
    return terms or analyzer.analyse_text(text), analyzer.heading_terms(heading, text)


def document_id_for(sha256: str, file_name: str) -> str:
    """A document is its name with its bytes: the same file again keeps its id, a copy under
    another name is a document of its own (deleting one never takes the other's text)."""
    return hashlib.sha256(f"{file_name}\0{sha256}".encode()).hexdigest()[:24]


def read_manifest(folder: Path) -> Manifest:
    try:
        data = json.loads((folder / MANIFEST).read_text("utf-8"))
        return Manifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise CollectionError(f"collection {folder.name!r} has an unreadable manifest: {exc}") from None


def list_collections(index_dir: Path) -> list[str]:
    if not index_dir.is_dir():
        return []
    return sorted(p.name for p in index_dir.iterdir() if (p / MANIFEST).is_file())


@contextmanager
def _file_lock(folder: Path, timeout: float, name: str) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(folder / WRITE_LOCK)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise CollectionBusy(
            f"collection {name!r} is being written by another process; "
            f"waited {timeout:.0f} s for its lock (POLRAG_LOCK_TIMEOUT_S)"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _read_state(folder: Path) -> int | None:
    try:
        return int(json.loads((folder / VECTORS_STATE).read_text("utf-8"))["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
