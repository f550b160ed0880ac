"""FAISS behind a small wrapper: inner-product search over ids the catalogue owns.

FAISS objects never leave this module; callers see numpy arrays of ids and scores.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class VectorIndex:
    """IndexIDMap2 over IndexFlatIP: exact cosine search on normalised vectors."""

    def __init__(self, dimension: int, index: Any = None) -> None:
        import faiss

        self.dimension = dimension
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._gpu_index: Any = None

    @classmethod
    def load(cls, path: Path, dimension: int) -> VectorIndex:
        """Read an index file; a missing or unreadable file gives an empty index to rebuild."""
        import faiss

        if not path.exists():
            return cls(dimension)
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            log.warning("vector file %s unreadable (%s); it will be rebuilt from the catalogue", path, exc)
            return cls(dimension)
        if index.d != dimension:
            log.warning("vector file %s has dimension %d, expected %d; rebuilding", path, index.d, dimension)
            return cls(dimension)
        return cls(dimension, index)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
        self._gpu_index = None

    def remove(self, ids: np.ndarray) -> int:
        import faiss

        if len(ids) == 0:
            return 0
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64))))
        self._gpu_index = None
        return removed

    def search(
        self, queries: np.ndarray, k: int, *, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` nearest vectors per query; id -1 pads missing results."""
        import faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, len(self))) if len(self) else 1
        if len(self) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if allowed_ids is not None:
            # ID selectors run on the CPU index only; filtered searches are small anyway.
            selector = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
            return self._index.search(queries, k, params=params)
        return self._searcher().search(queries, k)

    def save(self, path: Path) -> None:
        """Write atomically: readers see the old file or the new one, never half of one."""
        import faiss

        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def _searcher(self) -> Any:
        """The GPU copy when faiss-gpu and a GPU are present, else the CPU index."""
        import faiss

        if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
            return self._index
        if self._gpu_index is None:
            try:
                self._resources = faiss.StandardGpuResources()
                self._gpu_index = faiss.index_cpu_to_gpu(self._resources, 0, self._index)
            except RuntimeError as exc:  # out of GPU memory, unsupported index type
                log.warning("FAISS GPU unavailable (%s); searching on the CPU", exc)
                return self._index
        return self._gpu_index


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
