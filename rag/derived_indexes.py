"""A collection's in-memory search indexes (FAISS and BM25), derived from its catalogue.

Both are caches of the catalogue: loaded from their files, caught up from the catalogue
when they lag or cannot be trusted, changed by the writer after each commit, and saved
after a batch. Whatever takes long happens aside, while searches go on over what is
published: reading the catalogue, diffing ids, building the next BM25 state, training
IVF k-means, writing files. A search waits at most for an in-place FAISS change of the
vectors of one document (or one catch-up batch) or for the swap of a newly built index.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rag.catalog import Catalog
from rag.files import read_json, remove_stale_temporaries, write_json
from rag.lexical_index import LexicalIndex
from rag.rwlock import ReadWriteLock
from rag.vector_index import VectorIndex

log = logging.getLogger(__name__)

VECTORS = "vectors.faiss"
VECTORS_STATE = "vectors.state.json"
VECTORS_VERSION = 1
CATCH_UP_BATCH = 50_000


class DerivedIndexes:
    """The FAISS and BM25 indexes of one collection.

    Any number of threads may search. Changes come from one builder at a time: a thread
    holding :attr:`build_lock` (the collection's writer, or a search catching up with
    another process's writes).
    """

    def __init__(
        self, folder: Path, catalog: Catalog, dimension: int, *, name: str, nprobe: int | None = None
    ) -> None:
        self.folder = folder
        self.name = name
        self.catalog = catalog
        self.dimension = dimension
        self.build_lock = threading.Lock()
        # FAISS indexes change in place: searches share it, a change (short) has it alone.
        self._vector_lock = ReadWriteLock()
        self._vectors = _load_vectors(folder, dimension, nprobe)
        self._lexical, _ = LexicalIndex.load(folder, tag=self._analysis())
        self.generation = -1  # the catalogue generation the indexes hold

    @property
    def vectors(self) -> VectorIndex:
        return self._vectors

    @property
    def lexical(self) -> LexicalIndex:
        return self._lexical

    def search_vectors(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        with self._vector_lock.read():
            return self._vectors.search(queries, k, allowed_ids=allowed)

    def behind(self) -> bool:
        """Whether the catalogue has moved on since the indexes were last brought up to it."""
        return self.catalog.generation() != self.generation

    # -- changes: the caller holds build_lock ----------------------------------------

    def catch_up(self) -> None:
        """Make both indexes hold exactly the catalogue's chunks (ids are never reused, so
        comparing ids finds every difference)."""
        generation = self.catalog.generation()  # first: a write after it is caught up next time
        wanted = self.catalog.lexical_ids()
        present = self._lexical.chunk_ids()
        extra = np.setdiff1d(present, wanted, assume_unique=True)
        missing = np.setdiff1d(wanted, present, assume_unique=True)
        if len(extra) or len(missing):
            log.info("collection %s: BM25 caught up (+%d, -%d)", self.name, len(missing), len(extra))
            self._lexical.update(removed=extra, added=self._lexical_rows(missing))
        wanted = self.catalog.chunk_ids()
        present = self._vectors.ids()
        extra = np.setdiff1d(present, wanted, assume_unique=True)
        missing = np.setdiff1d(wanted, present, assume_unique=True)
        if len(extra) or len(missing):
            log.info("collection %s: vectors caught up (+%d, -%d)", self.name, len(missing), len(extra))
        if len(extra):
            with self._vector_lock.write():
                self._vectors.remove(extra)
        for start in range(0, len(missing), CATCH_UP_BATCH):
            ids, vectors = self.catalog.vectors_of(missing[start : start + CATCH_UP_BATCH], self.dimension)
            with self._vector_lock.write():
                self._vectors.add(ids, vectors)
        self.generation = generation

    def apply(
        self,
        removed: list[int],
        ids: list[int],
        vectors: np.ndarray,
        lexical: list[tuple[str, str]],
        generation: int,
    ) -> None:
        """Mirror one committed write: chunks ``removed`` gone, chunks ``ids`` added."""
        self._lexical.update(
            removed=removed,
            added=[
                (chunk_id, terms.split(), heading.split())
                for chunk_id, (terms, heading) in zip(ids, lexical, strict=True)
            ],
        )
        with self._vector_lock.write():
            if removed:
                self._vectors.remove(np.asarray(removed, dtype=np.int64))
            if ids:  # a delete adds nothing: no need to touch the index (or drop its GPU copy)
                self._vectors.add(np.asarray(ids, dtype=np.int64), vectors)
        self.generation = generation

    def reset_lexical(self) -> None:
        """Start the BM25 index over from the catalogue (its terms changed)."""
        fresh = LexicalIndex()
        fresh.update(added=self._lexical_rows(self.catalog.lexical_ids()))
        self._lexical = fresh
        fresh.save(self.folder, self.catalog.generation(), tag=self._analysis())

    def save(self, ann_threshold: int) -> None:
        """Switch to IVF when large enough (trained aside), then write both files."""
        remove_stale_temporaries(self.folder)  # we hold the write lock: those are a killed save's
        upgraded = self._vectors.upgraded(ann_threshold)
        if upgraded is not None:
            with self._vector_lock.write():
                self._vectors = upgraded
        # Only a builder changes the indexes and we are it: searches go on while files are written.
        self._vectors.save(self.folder / VECTORS)
        write_json(self.folder / VECTORS_STATE, {"generation": self.generation, "version": VECTORS_VERSION})
        self._lexical.save(self.folder, self.generation, tag=self._analysis())

    def _analysis(self) -> str:
        """What made the catalogue's terms: a BM25 file made otherwise is not used."""
        return self.catalog.meta("analysis_version") or ""

    def _lexical_rows(self, chunk_ids: np.ndarray) -> Iterator[tuple[int, list[str], list[str]]]:
        for start in range(0, len(chunk_ids), CATCH_UP_BATCH):
            for chunk_id, terms, heading in self.catalog.lexical_rows(
                chunk_ids[start : start + CATCH_UP_BATCH]
            ):
                yield chunk_id, terms.split(), heading.split()


def _load_vectors(folder: Path, dimension: int, nprobe: int | None) -> VectorIndex:
    state = read_json(folder / VECTORS_STATE) or {}
    version = state.get("version", 1)
    if (folder / VECTORS).exists() and (not isinstance(version, int) or version > VECTORS_VERSION):
        log.warning(
            "vector file %s has version %r, this polrag reads up to %d; "
            "it will be rebuilt from the catalogue",
            folder / VECTORS,
            version,
            VECTORS_VERSION,
        )
        return VectorIndex(dimension, nprobe=nprobe)
    return VectorIndex.load(folder / VECTORS, dimension, nprobe=nprobe)
