"""Fusion over rankings computed once: recall of a fusion point, the grids of both families
(reciprocal rank fusion and the convex combination of normalised scores) and the choice of the
best point, for bench/tune_fusion.py.

``score`` runs the Retriever's own fusion (``rag.retrieval.fuse``) and near-duplicate removal;
``fast_hybrid`` and ``fast_convex`` restate them over chunk ids and score arrays for the grids,
and ``check_fast_paths`` makes sure the restatements rank exactly as the Retriever does.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation import is_relevant
from rag.fusion import (
    NORMALISATIONS,
    SCORE_FLOORS,
    WORDS,
    Normalisation,
    _jaccard,
    _tied_ranks,
    convex_fusion,
    drop_near_duplicates,
    normalise_scores,
    reciprocal_rank_fusion,
)
from rag.retrieval import (
    CONVEX_UNIT_NORMALISATION,
    CONVEX_UNIT_WEIGHT,
    RetrievalConfig,
    convex_normalisations,
    fuse,
)
from rag.types import Hit

EVAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "eval"
DEPTH = 10  # recall is measured to 10, as `polrag eval` does
DENSE_WEIGHTS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
RRF_KS = (2, 5, 10, 20, 40, 60, 100)
CANDIDATES = (20, 50, 100)
ALPHAS = tuple(round(0.05 * i, 2) for i in range(21))  # the convex family's dense weight
UNIT_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0)  # the legal-unit term of the convex family, shown apart
EVAL_SPLIT = json.loads((EVAL / "split.json").read_text("utf-8"))


def score(
    data: dict[str, Any], mode: str, config: RetrievalConfig, fuser: Any = None, keep: Any = None
) -> dict[str, float]:
    """R@1/5/10 and MRR@10 of one mode under ``config``, as Retriever.retrieve would rank;
    ``fuser(lists, config)`` replaces rag.retrieval.fuse, ``keep(item)`` picks the questions."""
    pool = max(2 * DEPTH, config.candidates)
    ranks: list[int | None] = []
    for item, lists in zip(data["items"], data["rankings"], strict=True):
        if keep is not None and not keep(item):
            continue
        cut = {name: hits[:pool] for name, hits in lists.items() if mode == "hybrid" or name != "dense"}
        if mode == "dense":
            hits = lists["dense"][:pool]
        elif mode == "hybrid" or "unit" in cut:  # lexical fuses the legal-unit list too
            hits = (fuser or fuse)(cut, config)
        else:
            hits = cut["lexical"]
        top = drop_near_duplicates(hits, threshold=config.duplicate_threshold, limit=DEPTH)
        ranks.append(next((i for i, hit in enumerate(top, 1) if is_relevant(hit, item)), None))
    return _metrics(ranks)


def _compact(data: dict[str, Any]) -> list[tuple[dict[str, list[tuple[int, int]]], set[int]]]:
    """Per question: each list as (chunk id, rank; ties share the best), and the ids that count
    as a hit (computed once)."""
    if "compact" not in data:
        words = data.setdefault("words", {})
        compact = []
        for item, lists in zip(data["items"], data["rankings"], strict=True):
            relevant = {hit.chunk_id for hits in lists.values() for hit in hits if is_relevant(hit, item)}
            for hits in lists.values():
                for hit in hits:
                    if hit.chunk_id not in words:
                        words[hit.chunk_id] = frozenset(WORDS.findall(hit.text.lower()))
            ranked = {
                name: [(h.chunk_id, rank) for rank, h in _tied_ranks(hits)] for name, hits in lists.items()
            }
            compact.append((ranked, relevant))
        data["compact"] = compact
    return data["compact"]


def fast_hybrid(data: dict[str, Any], config: RetrievalConfig) -> dict[str, float]:
    """score(data, "hybrid", config) over chunk ids: rag.retrieval.fuse and drop_near_duplicates
    restated without building Hit objects, ~10x faster for the grid (main() checks they agree)."""
    pool = max(2 * DEPTH, config.candidates)
    weights = {
        "dense": config.dense_weight,
        "lexical": config.lexical_weight,
        "unit": 2 * max(config.dense_weight, config.lexical_weight, 0.5),
    }
    compact = _compact(data)
    words = data["words"]
    ranks: list[int | None] = []
    for lists, relevant in compact:
        fused: dict[int, float] = {}
        for name, ranked in lists.items():
            weight = weights[name]
            for chunk_id, rank in ranked[:pool]:
                fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (config.rrf_k + rank)
        order = sorted(fused, key=lambda i: (-fused[i], i))
        ranks.append(_first_relevant(order, relevant, words, config.duplicate_threshold))
    return _metrics(ranks)


def _first_relevant(
    order: Any, relevant: set[int], words: dict[int, frozenset[str]], threshold: float
) -> int | None:
    """The place of the first relevant chunk in ``order`` once near-duplicates are dropped."""
    kept: list[frozenset[str]] = []
    for chunk_id in order:
        if len(kept) >= DEPTH:
            return None
        mine = words[chunk_id]
        if any(_jaccard(mine, other) >= threshold for other in kept):
            continue
        kept.append(mine)
        if chunk_id in relevant:
            return len(kept)
    return None


def _normalised_lists(data: dict[str, Any], pool: int, normalisation: Normalisation) -> list[tuple[Any, ...]]:
    """Per question: the union of the lists cut at ``pool`` (chunk ids) and each list's
    normalised score per id, the missing ones at the list's floor, as convex_fusion computes."""
    cache = data.setdefault("normalised", {})
    if (pool, normalisation) not in cache:
        rows = []
        for lists in data["rankings"]:
            union = list(dict.fromkeys(h.chunk_id for hits in lists.values() for h in hits[:pool]))
            columns = []
            for name in ("dense", "lexical", "unit"):
                hits = lists.get(name, [])[:pool]
                if not hits:
                    columns.append(np.zeros(len(union)))
                    continue
                scaled = CONVEX_UNIT_NORMALISATION if name == "unit" else normalisation
                values, missing = normalise_scores([h.score for h in hits], scaled, SCORE_FLOORS[name])
                mine: dict[int, float] = {}
                for hit, value in zip(hits, values, strict=True):
                    mine.setdefault(hit.chunk_id, value)
                columns.append(np.array([mine.get(i, missing) for i in union]))
            rows.append((np.array(union), *columns))
        cache[(pool, normalisation)] = rows
    return cache[(pool, normalisation)]


def fast_convex(
    data: dict[str, Any], config: RetrievalConfig, unit_weight: float = CONVEX_UNIT_WEIGHT
) -> dict[str, float]:
    """score(data, "hybrid", config) for the convex family over normalised score arrays (main()
    checks they agree); ``unit_weight`` is the legal-unit term's weight."""
    pool = max(2 * DEPTH, config.candidates)
    alpha = config.dense_alpha
    compact = _compact(data)
    words = data["words"]
    ranks: list[int | None] = []
    rows = _normalised_lists(data, pool, config.normalisation)
    for (ids, dense, lexical, unit), (_, relevant) in zip(rows, compact, strict=True):
        # Summed in convex_fusion's order, so equal floats come out equal.
        fused = alpha * dense + (1 - alpha) * lexical + unit_weight * unit
        order = ids[np.lexsort((ids, -fused))].tolist()
        ranks.append(_first_relevant(order, relevant, words, config.duplicate_threshold))
    return _metrics(ranks)


def _metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)

    def recall(cutoff: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= cutoff) / n

    return {
        "R@1": recall(1),
        "R@5": recall(5),
        "R@10": recall(10),
        "MRR@10": sum(1 / r for r in ranks if r) / n,
    }


def grid(family: str, default: RetrievalConfig) -> list[RetrievalConfig]:
    """The points of one fusion family; the settings the family does not read stay the default's."""
    if family == "rrf":
        return [
            replace(default, fusion="rrf", dense_weight=w, rrf_k=k, candidates=c)
            for w, k, c in itertools.product(DENSE_WEIGHTS, RRF_KS, CANDIDATES)
        ]
    return [
        replace(default, fusion="convex", dense_alpha=a, normalisation=n, candidates=c)
        for a, n, c in itertools.product(ALPHAS, NORMALISATIONS, CANDIDATES)
    ]


def best(
    data: dict[str, Any], default: RetrievalConfig, family: str, points: list[RetrievalConfig] | None = None
) -> tuple[RetrievalConfig, dict[str, float]]:
    """The family's point (of ``points``, else its whole grid) with the best R@5 (ties: MRR@10,
    then the smaller change from the default; for convex, from an even alpha 0.5 and from the
    default's candidates)."""

    def key(config: RetrievalConfig) -> tuple[float, float, float]:
        m = scores[config]
        if family == "rrf":
            distance = (
                abs(config.dense_weight - default.dense_weight) + abs(config.rrf_k - default.rrf_k) / 60
            )
        else:
            distance = abs(config.dense_alpha - 0.5) + abs(config.candidates - default.candidates) / 1000
        return (round(m["R@5"], 6), round(m["MRR@10"], 6), -distance)

    fast = fast_hybrid if family == "rrf" else fast_convex
    scores = {config: fast(data, config) for config in points or grid(family, default)}
    chosen = max(scores, key=key)
    return chosen, scores[chosen]


def convex_per_normalisation(
    tune: dict[str, Any], test: dict[str, Any], default: RetrievalConfig
) -> list[dict[str, Any]]:
    """For each normalisation and candidate count: alpha chosen on ``tune``, both sets' recall."""
    rows = []
    for normalisation, candidates in itertools.product(NORMALISATIONS, CANDIDATES):
        points = [
            replace(
                default, fusion="convex", dense_alpha=a, normalisation=normalisation, candidates=candidates
            )
            for a in ALPHAS
        ]
        chosen, on_tune = best(tune, default, "convex", points)
        on_test = fast_convex(test, chosen)
        rows.append(
            {
                "run": label(chosen),
                "tune R@5": on_tune["R@5"],
                "test R@1": on_test["R@1"],
                "test R@5": on_test["R@5"],
            }
        )
    return rows


def label(config: RetrievalConfig) -> str:
    if config.fusion == "convex":
        return f"convex, alpha {config.dense_alpha:g}, {config.normalisation}, candidates {config.candidates}"
    return f"RRF, dense weight {config.dense_weight:g}, k {config.rrf_k}, candidates {config.candidates}"


def _unit_by_rrf(lists: dict[str, list[Hit]], config: RetrievalConfig) -> list[Hit]:
    """Dense and lexical fused convexly, then the legal-unit list by RRF over that fused list."""
    alpha = config.dense_alpha
    hybrid = convex_fusion(
        {name: hits for name, hits in lists.items() if name != "unit"},
        weights={"dense": alpha, "lexical": 1 - alpha},
        normalisation=config.normalisation,
    )
    if "unit" not in lists:
        return hybrid
    return reciprocal_rank_fusion(
        {"hybrid": hybrid, "unit": lists["unit"]}, weights={"unit": 2.0}, k=config.rrf_k
    )


def _unit_weighted(weight: float) -> Any:
    def fuser(lists: dict[str, list[Hit]], config: RetrievalConfig) -> list[Hit]:
        alpha = config.dense_alpha
        weights = {"dense": alpha, "lexical": 1 - alpha, "unit": weight}
        return convex_fusion(lists, weights=weights, normalisation=convex_normalisations(config))

    return fuser


def check_fast_paths(data: dict[str, Any], default: RetrievalConfig) -> None:
    """The grid's fast restatements rank exactly as the Retriever's own fusion does, at the
    shipped default and at other points of both families."""
    rrf = replace(default, fusion="rrf")
    for config in (rrf, replace(rrf, dense_weight=0.5, rrf_k=5, candidates=20)):
        assert fast_hybrid(data, config) == score(data, "hybrid", config), config
    convex = replace(default, fusion="convex")
    others = (replace(convex, dense_alpha=0.35, normalisation=n, candidates=50) for n in NORMALISATIONS)
    for config in (convex, *others):
        assert fast_convex(data, config) == score(data, "hybrid", config), config


def alpha_curve(tune: dict[str, Any], test: dict[str, Any], chosen: RetrievalConfig) -> list[dict[str, Any]]:
    """R@5 on both sets along alpha, at the chosen normalisation and candidates."""
    curve = []
    for alpha in ALPHAS:
        config = replace(chosen, dense_alpha=alpha)
        curve.append(
            {
                "alpha": alpha,
                "tune R@5": fast_convex(tune, config)["R@5"],
                "test R@5": fast_convex(test, config)["R@5"],
            }
        )
    return curve


def unit_rows(sets: dict[str, Any], chosen: RetrievalConfig) -> list[dict[str, Any]]:
    """How the legal-unit list enters the convex fusion: a term of each weight, or RRF over the
    convex list; on each whole set and on its questions that name a unit."""
    rows = []
    fusers = [(f"unit term, weight {w:g}", _unit_weighted(w)) for w in UNIT_WEIGHTS]
    fusers.append(("unit by RRF (weight 2, k of the default) over the convex list", _unit_by_rrf))
    for name, data in sets.items():
        named = {
            id(item) for item, lists in zip(data["items"], data["rankings"], strict=True) if "unit" in lists
        }
        if not named:
            continue
        for run, fuser in fusers:
            for subset, keep in (("all", None), ("naming a unit", lambda item, n=named: id(item) in n)):
                metrics = score(data, "hybrid", chosen, fuser=fuser, keep=keep)
                rows.append({"set": name, "questions": subset, "run": run, **metrics})
    return rows
