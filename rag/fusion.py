"""Pure functions that combine ranked lists: reciprocal rank fusion, a convex combination of
normalised scores, and near-duplicate removal."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Literal, get_args

from rag.types import Hit

RRF_K = 60  # the constant of Cormack et al. (2009): flattens the head of each list
WORDS = re.compile(r"\w+")
Normalisation = Literal["minmax", "theoretical", "zscore"]
NORMALISATIONS: tuple[Normalisation, ...] = get_args(Normalisation)
# The lowest score each list's scoring function can give ("theoretical" min-max): cosine
# similarity of unit vectors, BM25 (dense, lexical, legal-unit lists).
SCORE_FLOORS: Mapping[str, float] = {"dense": -1.0, "lexical": 0.0, "unit": 0.0}


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


def convex_fusion(
    rankings: Mapping[str, Sequence[Hit]],
    *,
    weights: Mapping[str, float],
    normalisation: Normalisation | Mapping[str, Normalisation] = "minmax",
    floors: Mapping[str, float] = SCORE_FLOORS,
) -> list[Hit]:
    """Fuse scored lists: score = sum over lists of weight x the hit's normalised score, best first.

    Unlike rank fusion this keeps the gaps between scores: a dense hit far ahead of the rest
    outweighs a near tie in BM25 (Bruch, Gai, Ingber 2023, "An Analysis of Fusion Functions for
    Hybrid Retrieval"). Each list is normalised on its own: ``minmax`` maps its lowest score to 0
    and its highest to 1; ``theoretical`` maps the list's ``floors`` entry (the lowest score its
    scoring function can give) to 0 and its highest to 1; ``zscore`` subtracts the list's mean and
    divides by its standard deviation; a mapping gives each list its own (``minmax`` for a list it
    does not name). A hit missing from a list counts as that list's lowest
    normalised value (0 for the first two; the last place's for ``zscore``); a list whose scores
    are all equal (the legal-unit list) gives its members 1 and others 0. Equal fused scores keep
    chunk-id order. Each fused hit keeps the per-list scores and ranks in ``extra``, as
    :func:`reciprocal_rank_fusion` does.
    """
    given = [normalisation] if isinstance(normalisation, str) else list(normalisation.values())
    if any(value not in NORMALISATIONS for value in given):
        raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}")
    chosen = {name: normalisation for name in rankings} if isinstance(normalisation, str) else normalisation
    fused = {hit.chunk_id: 0.0 for hits in rankings.values() for hit in hits}
    first_seen: dict[int, Hit] = {}
    extras: dict[int, dict[str, float]] = {}
    for name, hits in rankings.items():
        if not hits:
            continue
        weight = weights.get(name, 1.0)
        scores = [hit.score for hit in hits]
        values, missing = normalise_scores(scores, chosen.get(name, "minmax"), floors.get(name, 0.0))
        mine: dict[int, float] = {}
        for (rank, hit), value in zip(_tied_ranks(hits), values, strict=True):
            if hit.chunk_id in mine:
                continue  # a list names a chunk once; a repeat adds nothing
            mine[hit.chunk_id] = value
            first_seen.setdefault(hit.chunk_id, hit)
            extra = extras.setdefault(hit.chunk_id, {})
            extra[name] = hit.score
            extra[f"{name}_rank"] = float(rank)
        for chunk_id in fused:
            fused[chunk_id] += weight * mine.get(chunk_id, missing)
    order = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))
    return [replace(first_seen[i], score=fused[i], extra=extras[i]) for i in order]


def normalise_scores(
    scores: Sequence[float], normalisation: Normalisation, floor: float = 0.0
) -> tuple[list[float], float]:
    """One list's scores normalised as :func:`convex_fusion` does, and the value a hit missing
    from the list gets; ``floor`` is the lowest score the list's scoring function can give."""
    top, bottom = max(scores), min(scores)
    if top == bottom:
        return [1.0] * len(scores), 0.0
    if normalisation == "zscore":
        mean = sum(scores) / len(scores)
        spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
        values = [(s - mean) / spread for s in scores]
        return values, min(values)
    low = bottom if normalisation == "minmax" else min(floor, bottom)
    return [(s - low) / (top - low) for s in scores], 0.0


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
