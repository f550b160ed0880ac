"""FAISS behind a small wrapper: inner-product search over ids the catalogue owns.

Small collections use exact search (IndexIDMap2 over IndexFlatIP). Past a configurable
size the index becomes an IVF index with 8-bit scalar-quantised vectors
(IndexIVFScalarQuantizer, inner product). It keeps the two things a mutable collection
needs, ``add_with_ids`` and ``remove_ids``; it searches a fifth of its lists instead of
every vector, and scanning bytes instead of floats makes each list about 1.8x faster
(the same recall@10 as IndexIVFFlat at equal probes, bench/query.py) in a quarter of the
memory. The float vectors stay in the catalogue. FAISS objects never leave this module.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from rag.files import replacing

log = logging.getLogger(__name__)

TRAINING_POINTS_PER_LIST = 64
# Lists searched per query when POLRAG_ANN_NPROBE is unset. On bench/query.py's synthetic
# collections recall@10 against exact search is 0.96 at 100k chunks and 0.97 at 1M.
AUTO_PROBE_FRACTION = 0.2


class VectorIndex:
    """Cosine search on normalised vectors: exact while small, IVF past ``ann_threshold``."""

    def __init__(self, dimension: int, index: Any = None, *, nprobe: int | None = None) -> None:
        import faiss

        self.dimension = dimension
        self.nprobe = nprobe
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._gpu_index: Any = None
        self._gpu_lock = threading.Lock()  # searches share this index; one of them makes the GPU copy
        self._configure()

    @classmethod
    def load(cls, path: Path, dimension: int, *, nprobe: int | None = None) -> VectorIndex:
        """Read an index file; a missing one gives an empty index to rebuild, and so does one
        that cannot be trusted (with one warning)."""
        import faiss

        if not path.exists():
            return cls(dimension, nprobe=nprobe)
        try:
            index = faiss.read_index(str(path))
        # FAISS reports a damaged file as RuntimeError, but a derived file may fail in any
        # way; whatever it is, the catalogue rebuilds it.
        except Exception as exc:  # noqa: BLE001
            log.warning("vector file %s unreadable (%s); it will be rebuilt from the catalogue", path, exc)
            return cls(dimension, nprobe=nprobe)
        problem = _unexpected(index, dimension)
        if problem:
            log.warning("vector file %s %s; it will be rebuilt from the catalogue", path, problem)
            return cls(dimension, nprobe=nprobe)
        return cls(dimension, index, nprobe=nprobe)

    @property
    def approximate(self) -> bool:
        return self._ivf is not None

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        import faiss

        if self._ivf is None:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        lists: Any = self._ivf.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(lists.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

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
        if len(self) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        k = max(1, min(k, len(self)))
        if allowed_ids is not None:
            # ID selectors run on the CPU index only; filtered searches are small anyway.
            selector = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
            if self._ivf is None:
                params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
            else:  # every list: a filter may keep only vectors far from the query's lists
                params = faiss.SearchParametersIVF(sel=selector, nprobe=self._ivf.nlist)  # type: ignore[call-arg]
            return self._index.search(queries, k, params=params)
        return self._searcher().search(queries, k)

    def upgrade_if_large(self, threshold: int) -> bool:
        """Switch from exact to IVF search once the index holds more than ``threshold`` vectors."""
        upgraded = self.upgraded(threshold)
        if upgraded is None:
            return False
        self._index, self._gpu_index = upgraded._index, None
        self._configure()
        return True

    def upgraded(self, threshold: int) -> VectorIndex | None:
        """A new IVF index with this one's vectors once it holds more than ``threshold`` of
        them, else None. Built aside (k-means takes a while): this index keeps serving
        searches meanwhile, and must not change until the caller swaps the new one in."""
        if self._ivf is not None or len(self) <= threshold:
            return None
        import faiss

        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        flat: Any = faiss.downcast_index(self._index.index)
        vectors = faiss.rev_swig_ptr(flat.get_xb(), len(self) * self.dimension).reshape(len(self), -1).copy()
        nlist = ivf_lists_for(len(self))
        quantizer: Any = faiss.IndexFlatIP(self.dimension)
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer, self.dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        sample = np.random.default_rng(0).permutation(len(vectors))[: nlist * TRAINING_POINTS_PER_LIST]
        ivf.train(vectors[sample])
        ivf.add_with_ids(vectors, ids)
        ivf.own_fields = True
        quantizer.this.disown()
        log.info("vector index switched to IVF (%d lists) at %d vectors", nlist, len(ids))
        return VectorIndex(self.dimension, ivf, nprobe=self.nprobe)

    def save(self, path: Path) -> None:
        """Write atomically: readers see the old file or the new one, never half of one."""
        import faiss

        with replacing(path) as tmp:
            faiss.write_index(self._index, str(tmp))

    def _configure(self) -> None:
        import faiss

        ivf = faiss.try_extract_index_ivf(self._index)
        self._ivf = ivf
        if ivf is not None:
            ivf.nprobe = probes_for(ivf.nlist, self.nprobe)

    def _searcher(self) -> Any:
        """The GPU copy when faiss-gpu and a GPU are present, else the CPU index."""
        import faiss

        if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
            return self._index
        with self._gpu_lock:
            return self._gpu_searcher()

    def _gpu_searcher(self) -> Any:
        import faiss

        if self._gpu_index is None:
            try:
                self._resources = faiss.StandardGpuResources()
                options = faiss.GpuClonerOptions()
                self._gpu_index = faiss.index_cpu_to_gpu(self._resources, 0, self._index, options)
                if self._ivf is not None:
                    # FAISS GPU searches at most 2048 lists per query.
                    nprobe = min(self._ivf.nprobe, 2048)
                    faiss.GpuParameterSpace().set_index_parameter(self._gpu_index, "nprobe", nprobe)
            except RuntimeError as exc:  # out of GPU memory, unsupported index type
                log.warning("FAISS GPU unavailable (%s); searching on the CPU", exc)
                return self._index
        return self._gpu_index


def probes_for(nlist: int, nprobe: int | None) -> int:
    """The lists to search: the setting, or a fixed share of them (recall stays put as n grows)."""
    if nprobe is None:
        nprobe = max(16, math.ceil(AUTO_PROBE_FRACTION * nlist))
    return max(1, min(nprobe, nlist))


def ivf_lists_for(count: int) -> int:
    """About 4·sqrt(n) inverted lists, the usual FAISS guidance, within sane bounds."""
    lists = int(min(65536, max(64, 4 * math.sqrt(count))))
    return max(1, min(lists, count // 40))  # k-means wants about 40 points per centroid


def _unexpected(index: Any, dimension: int) -> str:
    """Why a loaded index is not one this module writes for this collection ('' when it is)."""
    import faiss

    if index.d != dimension:
        return f"has dimension {index.d}, expected {dimension}"
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return "does not use inner product"
    if faiss.try_extract_index_ivf(index) is None:
        mapped: Any = faiss.downcast_index(index)
        if not isinstance(mapped, faiss.IndexIDMap2) or not isinstance(
            faiss.downcast_index(mapped.index), faiss.IndexFlat
        ):
            return f"holds a {type(mapped).__name__}, not an id-mapped flat or IVF index"
        if mapped.id_map.size() != index.ntotal:
            return f"maps {mapped.id_map.size()} ids to {index.ntotal} vectors"
    return ""
