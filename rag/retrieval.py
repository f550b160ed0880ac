"""Hybrid retrieval: dense FAISS + lemmatised BM25, fused (by rank or by normalised score), reranked."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal, get_args

from rag.analysis import PolishAnalyzer
from rag.control_tokens import neutralise
from rag.embedder import TextEmbedder
from rag.fusion import (
    NORMALISATIONS,
    Normalisation,
    convex_fusion,
    drop_near_duplicates,
    reciprocal_rank_fusion,
)
from rag.reranker import Reranker
from rag.store import Store
from rag.types import Hit

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[str, ...] = get_args(Mode)
Fusion = Literal["rrf", "convex"]
FUSIONS: tuple[str, ...] = get_args(Fusion)
# In the convex fusion the dense and lexical terms add up to at most 1, so a legal-unit term of 1
# puts the chunks under the unit a question names first, as the doubled RRF weight does.
CONVEX_UNIT_WEIGHT = 1.0
# The unit list's scores differ only when a question names several units ("art. 30 i art. 31":
# their idf differ). Scaled from BM25's floor, every named unit's chunks keep a unit term; min-max
# or z-score would put the lower unit's chunks at the list's floor, level with chunks under none.
CONVEX_UNIT_NORMALISATION: Normalisation = "theoretical"


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    candidates: int = 50
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    rerank_top: int = 30
    duplicate_threshold: float = 0.8
    rrf_k: int = 60
    fusion: Fusion = "rrf"
    dense_alpha: float = 0.5
    normalisation: Normalisation = "minmax"

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError("candidates must be at least 1.")
        if self.dense_weight < 0 or self.lexical_weight < 0:
            raise ValueError("fusion weights must not be negative.")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}.")
        if not 0 <= self.dense_alpha <= 1:
            raise ValueError("dense_alpha must be between 0 and 1.")
        if self.normalisation not in NORMALISATIONS:  # else the first convex search would fail
            raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}.")


class Retriever:
    """Finds the passages of a collection that answer a question."""

    def __init__(
        self,
        embedder: TextEmbedder,
        analyzer: PolishAnalyzer,
        *,
        reranker: Reranker | None = None,
        config: RetrievalConfig | None = None,
    ) -> None:
        self.embedder = embedder
        self.analyzer = analyzer
        self.reranker = reranker
        self.config = config or RetrievalConfig()
        self._threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="polrag-dense")

    def retrieve(
        self,
        question: str,
        collection: Store,
        *,
        k: int = 6,
        mode: Mode = "hybrid",
        document_ids: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The ``k`` best passages for ``question``, best first, near-duplicates removed."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        pool = max(k * 2, self.config.candidates)
        rankings: dict[str, list[Hit]] = {}
        dense: Future[list[Hit]] | None = None
        if mode == "dense":
            rankings["dense"] = self._dense(question, collection, pool, document_ids)
        elif mode == "hybrid":
            # Embedding + FAISS in another thread while BM25 runs here: both release the GIL,
            # and a single-query FAISS search uses one core (bench/query.py: hybrid p50 at
            # 1M chunks 47 -> 33 ms).
            dense = self._threads.submit(self._dense, question, collection, pool, document_ids)
        if mode in ("lexical", "hybrid"):
            terms = self.analyzer.query_words(question)
            rankings["lexical"] = collection.lexical_search(terms, pool, document_ids=document_ids)
            if units := self.analyzer.unit_terms(question):
                # "art. 30" asks for Art. 30 itself, not for every passage that cites it.
                rankings["unit"] = collection.lexical_search(
                    units, pool, document_ids=document_ids, headings_only=True
                )
        if dense is not None:
            rankings = {"dense": dense.result(), **rankings}  # the order fusion breaks ties by
        candidates = fuse(rankings, self.config) if mode == "hybrid" or "unit" in rankings else rankings[mode]
        if self.reranker is not None and candidates:
            top = self.reranker.rerank(question, candidates[: self.config.rerank_top])
            candidates = top + candidates[self.config.rerank_top :]
        hits = drop_near_duplicates(candidates, threshold=self.config.duplicate_threshold, limit=k)
        return [_without_control_tokens(hit) for hit in hits]

    def _dense(
        self, question: str, collection: Store, pool: int, document_ids: Sequence[str] | None
    ) -> list[Hit]:
        vector = self.embedder.encode_queries([question])
        return collection.search(vector, pool, document_ids=document_ids)[0]


def _without_control_tokens(hit: Hit) -> Hit:
    # Ingest neutralises page text; chunks stored before it did may still hold control tokens.
    text, heading = neutralise(hit.text), neutralise(hit.heading)
    if text is hit.text and heading is hit.heading:
        return hit
    return replace(hit, text=text, heading=heading)


def fuse(rankings: dict[str, list[Hit]], config: RetrievalConfig) -> list[Hit]:
    """The dense, lexical and legal-unit lists fused as ``config`` says.

    ``rrf``: reciprocal rank fusion under ``config``'s weights; a legal-unit list ("art. 30"
    matched in headings) weighs twice the stronger of the other two, so the unit a question names
    comes first. ``convex``: ``dense_alpha`` x normalised dense score + (1 - ``dense_alpha``) x
    normalised BM25 score, plus 1 for a chunk under the named unit (the same precedence; under
    the lesser of several named units, its BM25 share of the best one's). Pure, so
    bench/tune_fusion.py can sweep the constants over rankings computed once.
    """
    if config.fusion == "convex":
        # alpha balances dense against BM25; a lexical-mode search (BM25 and the unit list) has
        # no dense list, and its BM25 must not be weighed down to nothing by an alpha near 1.
        alpha = config.dense_alpha if "dense" in rankings else 0.0
        weights = {"dense": alpha, "lexical": 1 - alpha, "unit": CONVEX_UNIT_WEIGHT}
        return convex_fusion(rankings, weights=weights, normalisation=convex_normalisations(config))
    weights = {
        "dense": config.dense_weight,
        "lexical": config.lexical_weight,
        "unit": 2 * max(config.dense_weight, config.lexical_weight, 0.5),
    }
    return reciprocal_rank_fusion(rankings, weights=weights, k=config.rrf_k)


def convex_normalisations(config: RetrievalConfig) -> dict[str, Normalisation]:
    """How the convex fusion scales each list: dense and lexical as ``config`` says, the
    legal-unit list always from BM25's floor (:data:`CONVEX_UNIT_NORMALISATION`)."""
    return {"dense": config.normalisation, "lexical": config.normalisation, "unit": CONVEX_UNIT_NORMALISATION}
