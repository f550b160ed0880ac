"""The entry point the CLI and the API share: settings, the embedder and open collections."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rag.analysis import default_analyzer
from rag.device import resolve_device
from rag.embedder import TextEmbedder, build_embedder
from rag.embeddings import reads_polish
from rag.errors import CollectionNotFound, PolragError
from rag.manifest import Manifest
from rag.reranker import Reranker
from rag.retrieval import Mode, RetrievalConfig, Retriever
from rag.settings import Settings
from rag.store import Store, StoreBackend
from rag.stores import open_backend
from rag.types import Hit

log = logging.getLogger(__name__)


@dataclass
class _Opening:
    """A name's open lock and how many threads hold or wait for it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as listed: its name and size, or why it cannot be opened."""

    name: str
    documents: int | None
    chunks: int | None  # catalogue rows: the source of truth
    vectors: int | None = None  # in the FAISS index: equal to chunks except during a write
    lexical_rows: int | None = None  # in the BM25 index: likewise
    error: str | None = None


class Library:
    """Holds the embedder and every collection opened so far; load it once per process."""

    def __init__(
        self,
        settings: Settings,
        embedder: TextEmbedder | None = None,
        reranker: Reranker | None = None,
        backend: StoreBackend | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or build_embedder(settings)
        self._owns_embedder = embedder is None  # one handed in may serve other libraries too
        self.retriever = Retriever(
            self.embedder,
            default_analyzer(),
            reranker=reranker or _reranker_for(settings),
            config=_retrieval_config(settings, reads_polish(self.embedder.model_name)),
        )
        self.backend = backend or open_backend(settings)
        self._collections: dict[str, Store] = {}
        self._lock = threading.Lock()  # the dicts below; never held across an open
        self._opening: dict[str, _Opening] = {}  # one per name: opens of one collection queue

    def expected_manifest(self) -> Manifest:
        embedder = self.embedder
        return Manifest(
            embedding_model=embedder.model_name,
            dimension=embedder.dimension,
            query_prefix=embedder.prefixes.query,
            passage_prefix=embedder.prefixes.passage,
            chunk_tokens=self.settings.chunk_tokens,
            chunk_overlap_tokens=self.settings.chunk_overlap_tokens,
            max_chunk_tokens=embedder.max_passage_tokens,
        )

    def collection(self, name: str | None = None, *, create: bool = False) -> Store:
        """An open collection; ``create`` makes it when missing, else CollectionNotFound."""
        name = name or self.settings.collection
        # One lock per name: an open can take long (PostgreSQL rebuilds an index a bulk load cut
        # short left missing, behind the table's writers) and must not hold up the other collections.
        with self._opening_lock(name):
            with self._lock:
                store = self._collections.get(name)
            if store is not None:
                if not store.gone():
                    return store
                # Deleted (and maybe made again) by another process: its open files are gone.
                with self._lock:
                    if self._collections.get(name) is store:
                        del self._collections[name]
            store = self.backend.open(name, self.expected_manifest(), create=create)
            with self._lock:
                self._collections[name] = store
            return store

    @contextmanager
    def _opening_lock(self, name: str) -> Iterator[None]:
        """Hold ``name``'s open lock; it goes once nobody holds or waits for it, so names asked
        for and never found (any client can send them) do not pile up."""
        with self._lock:
            entry = self._opening.setdefault(name, _Opening())
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._lock:
                entry.users -= 1
                if not entry.users:
                    del self._opening[name]

    def collection_names(self) -> list[str]:
        """Names of the collections in the store, sorted."""
        return self.backend.names()

    def collections(self) -> list[CollectionInfo]:
        """Every collection with its document and chunk counts (one that cannot open says why)."""
        infos = []
        for name in self.collection_names():
            try:
                stats = self.collection(name).stats()
                # The index sizes let an operator (and bench/soak.py) see them agree with the catalogue.
                infos.append(
                    CollectionInfo(name, stats.documents, stats.chunks, stats.vectors, stats.lexical_rows)
                )
            except CollectionNotFound:
                continue  # deleted since it was listed
            except PolragError as exc:
                infos.append(CollectionInfo(name, None, None, error=exc.public_message))
        return infos

    def delete_collection(self, name: str, *, only_if_empty: bool = False) -> bool:
        """Remove collection ``name`` with everything in it; CollectionNotFound when there is none.

        No writer in any process is half-way through it when it goes. ``only_if_empty`` keeps a
        collection that holds any document and returns False then (a batch that stored nothing
        removes the collection it created, never another's work). Searches already running on it
        finish; later ones get CollectionNotFound.
        """
        if not self.backend.delete(name, only_if_empty=only_if_empty):
            return False
        with self._lock:
            # Not closed here: a search that already holds it reads on, and its connections
            # close when the last reference goes.
            self._collections.pop(name, None)
        log.info("collection %s deleted", name)
        return True

    def sweep_deleted(self) -> None:
        """Remove what deletions a crash interrupted left behind."""
        self.backend.sweep()

    def search(
        self,
        query: str,
        *,
        collection: str | None = None,
        k: int | None = None,
        mode: Mode = "hybrid",
        document_ids: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The ``k`` passages that best match ``query`` (hybrid, dense or lexical), best first."""
        return self.retriever.retrieve(
            query,
            self.collection(collection),
            k=k or self.settings.top_k,
            mode=mode,
            document_ids=document_ids,
        )

    def close(self) -> None:
        with self._lock:
            for collection in self._collections.values():
                collection.close()
            self._collections.clear()
        self.backend.close()
        # An embedding server's client holds sockets and request threads until closed.
        close = getattr(self.embedder, "close", None)
        if self._owns_embedder and close is not None:
            close()


def _reranker_for(settings: Settings) -> Reranker | None:
    """The reranker when configured: on by default only with CUDA, where it is fast."""
    if not settings.reranker_model or settings.rerank == "off":
        return None
    if settings.rerank == "auto" and resolve_device(settings.device) != "cuda":
        return None
    return Reranker(settings.reranker_model, device=settings.device)


# Fusion defaults per embedder family, chosen on PoQuAD dev and reported on tests/data/eval by
# bench/tune_fusion.py (README "Retrieval quality"). multilingual-e5-small for the family that
# reads Polish: RRF, dense weight 1, k 10, 100 candidates (hybrid R@5 0.956 -> 0.968 on PoQuAD,
# 0.888 -> 0.921 on the own set); the convex fusion chosen on PoQuAD lost one own question at R@5
# (0.928 -> 0.921), so RRF stays. all-MiniLM-L6-v2 for the others: convex, alpha 0.05,
# theoretical min-max, 100 candidates (own set R@5 0.803 -> 0.829, R@1 0.428 -> 0.454; RRF let
# the English model's noisy first places outvote BM25's, convex lets dense only break near ties).
# Each retrieval constant: the setting that overrides it, then its default for an embedder
# known to read Polish and for the others. Dense weight: dense ranks count fully only from an
# embedder known to read Polish (tests/data/eval with MiniLM: hybrid R@5 0.62 at weight 1.0, 0.79
# at 0.25, 0.81 for lexical alone). RRF's k: 10 for both (the usual 60 flattens the head of each
# list too much: a passage BM25 ranks first, 1/61, lost to one it ranks second that the weak dense
# list also holds; with e5, k 10 beat 60 on PoQuAD too, hybrid R@5 0.968 vs 0.956).
_FAMILY_DEFAULTS: dict[str, tuple[str, Any, Any]] = {
    "candidates": ("retrieval_candidates", 100, 100),
    "dense_weight": ("rrf_dense_weight", 1.0, 0.25),
    "rrf_k": ("rrf_k", 10, 10),
    "fusion": ("fusion", "rrf", "convex"),
    "dense_alpha": ("fusion_dense_alpha", 0.5, 0.05),
    "normalisation": ("fusion_normalisation", "minmax", "theoretical"),
}


def _retrieval_config(settings: Settings, polish_family: bool) -> RetrievalConfig:
    chosen = {}
    for field_name, (setting, polish, other) in _FAMILY_DEFAULTS.items():
        value = getattr(settings, setting)
        chosen[field_name] = value if value is not None else (polish if polish_family else other)
    return RetrievalConfig(
        **chosen, lexical_weight=settings.rrf_lexical_weight, rerank_top=settings.rerank_top
    )
