"""Peak RSS of `polrag ingest` for one document per process: memory follows the work, not the file.

    python bench/limits_rss.py /work/shared/data/pdfs/DU_2020_poz17.pdf --at-limit

Each file is ingested by a fresh `polrag ingest` into a fresh index dir (the embedder is
whatever POLRAG_EMBEDDING_MODEL names); the peak is ru_maxrss of the largest process of that
command (parser workers included). ``--at-limit`` adds a text document of exactly
POLRAG_MAX_DOCUMENT_CHARS characters made of the first file's text, and a tiny one as the
baseline (interpreter, torch and the model).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ingest.py would shadow the ingest package: the project root comes first instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)
sys.stderr.write(done.stdout.decode())
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""
PREPARE = """
import json, resource, sys, time
from pathlib import Path
from ingest.chunking import ChunkingParams
from ingest.limits import DocumentLimits
from ingest.prepare import FailedFile, prepare_file
from rag.embeddings import HFTokenCounter
from rag.settings import get_settings
from transformers import AutoTokenizer
settings = get_settings()
counter = HFTokenCounter(AutoTokenizer.from_pretrained(settings.embedding_model))
config = Path(settings.embedding_model) / "sentence_bert_config.json"  # as the Embedder reads it
max_tokens = json.loads(config.read_text())["max_seq_length"] - 2 if config.exists() else 510
params = ChunkingParams(settings.chunk_tokens, settings.chunk_overlap_tokens, max_tokens)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
result = prepare_file(Path(sys.argv[1]), Path(sys.argv[1]).name, counter, params, 2**40,
                      DocumentLimits.from_settings(settings))
failed = isinstance(result, FailedFile)
print(json.dumps({"file": Path(sys.argv[1]).name, "stage": "prepare",
                  "failed": result.error if failed else None,
                  "chars": 0 if failed else sum(len(p.text) for p in result.document.pages),
                  "chunks": 0 if failed else len(result.chunks),
                  "seconds": round(time.perf_counter() - started, 1),
                  "rss_before_mib": before // 1024,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""
PAGE_CHARS = 3000  # form feeds every so often: the at-limit document has pages like a book


def polrag() -> list[str]:
    script = shutil.which("polrag", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", "from api.cli import main; main()"]


def measure(path: Path, workdir: Path) -> dict[str, object]:
    index = workdir / f"index-{path.stem}"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *polrag(), "ingest", str(path), "--json"],
        capture_output=True,
        text=True,
        env={**_env(), "POLRAG_INDEX_DIR": str(index)},
    )
    seconds = time.perf_counter() - started
    report = json.loads(done.stderr[done.stderr.index("{") :])
    shutil.rmtree(index, ignore_errors=True)
    return {
        "file": path.name,
        "mib": round(path.stat().st_size / 2**20, 2),
        "chunks": report["chunks"],
        "failed": [f["error"] for f in report["failed"]],
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(int(done.stdout.strip()) / 1024),
    }


def measure_prepare(path: Path) -> dict[str, object]:
    """Parse, clean, chunk and lemmatise only: the part whose memory a document's size drives."""
    done = subprocess.run(
        [sys.executable, "-c", PREPARE, str(path)], capture_output=True, text=True, env=_env()
    )
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def at_limit_text(source: Path, chars: int, target: Path) -> Path:
    from ingest.loaders import load_file

    # Line ends as the text loader counts them (PDFium gives CRLF).
    text = "\n".join(page.text for page in load_file(source).pages).replace("\r\n", "\n").replace("\r", "\n")
    pages, total, copy = [], 0, 0
    while total < chars:
        copy += 1
        for start in range(0, len(text), PAGE_CHARS):
            page = f"[{copy}] " + text[start : start + PAGE_CHARS]
            page = page[: chars - total - (1 if pages else 0)]
            pages.append(page)
            total += len(page) + (1 if len(pages) > 1 else 0)
            if total >= chars:
                break
    target.write_text("\f".join(pages), encoding="utf-8", newline="")
    return target


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--at-limit", action="store_true", help="also a document at the character limit")
    parser.add_argument(
        "--prepare-only", action="store_true", help="measure parsing to lemmatised chunks, not the ingest"
    )
    args = parser.parse_args()
    from rag.settings import get_settings

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        files = list(args.files)
        if args.at_limit:
            tiny = workdir / "baseline.txt"
            tiny.write_text("Ustawa wchodzi w życie z dniem ogłoszenia.", encoding="utf-8")
            limit = get_settings().max_document_chars
            files = [tiny, *files, at_limit_text(files[0], limit, workdir / f"at-limit-{limit}.txt")]
        for path in files:
            result = measure_prepare(path) if args.prepare_only else measure(path, workdir)
            print(json.dumps(result, ensure_ascii=False), flush=True)
    print(f"# parent peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
