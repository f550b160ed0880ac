"""Pure functions that combine ranked lists: reciprocal rank fusion and near-duplicate removal."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

from rag.types import Hit

RRF_K = 60  # the constant of Cormack et al. (2009): flattens the head of each list
WORDS = re.compile(r"\w+")


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[Hit]],
    *,
    weights: Mapping[str, float] | None = None,
    k: int = RRF_K,
) -> list[Hit]:
    """Fuse ranked lists: score = sum over lists of weight / (k + rank), best first.

    Each fused hit keeps the per-list scores and ranks in ``extra`` ("dense", "dense_rank", ...).
    """
    weights = weights or {}
    fused: dict[int, float] = {}
    first_seen: dict[int, Hit] = {}
    extras: dict[int, dict[str, float]] = {}
    for name, hits in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, hit in _tied_ranks(hits):
            fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + weight / (k + rank)
            first_seen.setdefault(hit.chunk_id, hit)
            extra = extras.setdefault(hit.chunk_id, {})
            extra[name] = hit.score
            extra[f"{name}_rank"] = float(rank)
    order = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))
    return [replace(first_seen[i], score=fused[i], extra=extras[i]) for i in order]


def _tied_ranks(hits: Sequence[Hit]) -> Iterator[tuple[int, Hit]]:
    """Each hit with its rank, hits of equal score sharing the best (1, 2, 2, 4): the order a list
    gives its ties says nothing, and fusion must not read it as a preference. Every chunk under
    the heading a question names ("art. 30") ties in the legal-unit list; the other lists choose
    among them."""
    rank, previous = 0, None
    for position, hit in enumerate(hits, start=1):
        if hit.score != previous:
            rank, previous = position, hit.score
        yield rank, hit


def drop_near_duplicates(
    hits: Sequence[Hit], *, threshold: float = 0.8, limit: int | None = None
) -> list[Hit]:
    """Keep the best of passages that say nearly the same (overlapping chunks, repeated text).

    Two passages are near-duplicates when their word sets' Jaccard similarity reaches
    ``threshold``; the earlier (better-ranked) one stays. Stops once ``limit`` are kept, so
    the cost is O(limit x candidates), not quadratic in the candidates.
    """
    kept: list[Hit] = []
    kept_words: list[frozenset[str]] = []
    for hit in hits:
        if limit is not None and len(kept) >= limit:
            break
        words = frozenset(WORDS.findall(hit.text.lower()))
        if any(_jaccard(words, other) >= threshold for other in kept_words):
            continue
        kept.append(hit)
        kept_words.append(words)
    return kept


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    return len(a & b) / len(a | b)
