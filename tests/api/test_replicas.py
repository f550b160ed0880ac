"""Stateless replicas: two real `polrag serve` processes (each with its own local folder) share
one PostgreSQL database; `polrag ingest` runs from two processes at once into one collection."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import DATA, ODPADY, PODATEK
from tests.api.server_process import RunningServer, polrag_command, polrag_server, tiny_server_env

QUESTION = "Jakie są warunki uznania odpadów za posiadające właściwości zakaźne?"
EVAL_ACTS = sorted((DATA / "eval").glob("DU_2020_*.pdf"))


@pytest.fixture(scope="module")
def shared_database(postgres_server: str) -> Iterator[str]:
    from tests.postgres import fresh_database

    yield from fresh_database(postgres_server)


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, shared_database: str, minilm_path: str, tiny_llm_path: str
) -> Iterator[tuple[RunningServer, RunningServer]]:
    env = tiny_server_env(
        minilm_path, tiny_llm_path, database_url=shared_database, api_keys="", log_level="WARNING"
    )
    with (
        polrag_server(tmp_path_factory, "replica-a", env) as a,
        polrag_server(tmp_path_factory, "replica-b", env) as b,
    ):
        yield a, b


def test_upload_through_one_replica_search_ask_delete_through_the_other(
    replicas: tuple[RunningServer, RunningServer],
) -> None:
    a, b = replicas
    with (
        httpx.Client(base_url=a.base, timeout=180) as one,
        httpx.Client(base_url=b.base, timeout=180) as other,
    ):
        files = [("files", (p.name, p.read_bytes(), "application/pdf")) for p in (ODPADY, PODATEK)]
        uploaded = one.post("/v1/documents", files=files, params={"collection": "wspolna"})
        assert uploaded.status_code == 200, uploaded.text
        ids = {f["filename"]: f["id"] for f in uploaded.json()["files"]}

        listed = other.get("/v1/documents", params={"collection": "wspolna"}).json()["documents"]
        assert {d["id"] for d in listed} == set(ids.values())
        hits = other.post("/v1/search", json={"query": "odpady zakaźne", "k": 3, "collection": "wspolna"})
        assert hits.status_code == 200, hits.text
        assert hits.json()["hits"][0]["document"] == ODPADY.name
        answer = other.post("/v1/ask", json={"question": QUESTION, "collection": "wspolna"}).json()
        assert answer["passages"][0]["document"] == ODPADY.name
        # The original went into the database with the document: the other replica draws its pages.
        page = other.get(f"/v1/documents/{ids[ODPADY.name]}/pages/1", params={"collection": "wspolna"})
        assert page.status_code == 200 and page.content.startswith(b"\x89PNG"), page.text[:200]

        assert (
            other.delete(f"/v1/documents/{ids[ODPADY.name]}", params={"collection": "wspolna"}).status_code
            == 204
        )
        left = one.get("/v1/documents", params={"collection": "wspolna"}).json()["documents"]
        assert [d["file_name"] for d in left] == [PODATEK.name]
        names = [c["name"] for c in one.get("/v1/collections").json()["collections"]]
        assert "wspolna" in names
        assert other.delete("/v1/collections/wspolna").status_code == 204
        gone = one.get("/v1/documents", params={"collection": "wspolna"})
        assert gone.status_code == 404, gone.text


def test_kill_9_of_a_replica_mid_upload_leaves_nothing_half_stored(
    replicas: tuple[RunningServer, RunningServer], shared_database: str
) -> None:
    a, b = replicas
    files = [("files", (p.name, p.read_bytes(), "application/pdf")) for p in (ODPADY, PODATEK, *EVAL_ACTS)]

    def upload() -> None:
        with contextlib.suppress(httpx.TransportError):  # killed under it: expected
            httpx.post(f"{a.base}/v1/documents", files=files, params={"collection": "ubita"}, timeout=180)

    thread = threading.Thread(target=upload)
    thread.start()
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=b.base, timeout=60) as other:
        # Kill as soon as the first document is committed (the rest are still being parsed/embedded).
        while time.monotonic() < deadline:
            listed = other.get("/v1/documents", params={"collection": "ubita"})
            if listed.status_code == 200 and listed.json()["documents"]:
                break
            time.sleep(0.05)
        os.kill(a.process.pid, signal.SIGKILL)
        a.process.wait(timeout=30)
        thread.join(timeout=60)
        documents = other.get("/v1/documents", params={"collection": "ubita"}).json()["documents"]
        assert 1 <= len(documents) <= len(files)
        for document in documents:  # every document stored is whole and findable
            shown = other.get(f"/v1/documents/{document['id']}", params={"collection": "ubita"}).json()
            assert document["chunks"] > 0
            hits = other.post(
                "/v1/search",
                json={"query": document["file_name"].removesuffix(".pdf"), "k": 50, "collection": "ubita",
                      "mode": "dense", "document_ids": [document["id"]]},
            )  # fmt: skip
            assert hits.status_code == 200, hits.text
            assert len(hits.json()["hits"]) == min(50, document["chunks"]), shown
    _assert_consistent(shared_database)


def test_two_ingest_processes_at_once_into_one_collection(
    tmp_path: Path, database_url: str, minilm_path: str
) -> None:
    env = {
        **os.environ,
        "POLRAG_DATABASE_URL": database_url,
        "POLRAG_INDEX_DIR": str(tmp_path / "local"),
        "POLRAG_EMBEDDING_MODEL": minilm_path,
        "POLRAG_DEVICE": "cpu",
        "POLRAG_LOG_LEVEL": "WARNING",
    }
    halves = [[ODPADY, *EVAL_ACTS[:1]], [PODATEK, *EVAL_ACTS[1:]]]
    shared = EVAL_ACTS[0]  # both batches hold it: stored once, the other batch finds it unchanged or waits
    halves[1].append(shared)
    processes = [
        subprocess.Popen(
            [
                *polrag_command(),
                "ingest",
                *map(str, half),
                "--collection",
                "razem",
                "--json",
                "--workers",
                "0",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for half in halves
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        reports.append(json.loads(out))
    assert all(report["failed"] == [] for report in reports), reports
    # The shared file is stored by one batch; the other finds it unchanged (or replaces nothing).
    assert sum(report["added"] for report in reports) == len({p.name for half in halves for p in half}), (
        reports
    )
    listed = subprocess.run(
        [*polrag_command(), "documents", "list", "--collection", "razem", "--json"],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    names = sorted(d["file_name"] for d in json.loads(listed.stdout)["documents"])
    assert names == sorted({p.name for half in halves for p in half})
    _assert_consistent(database_url)


def _assert_consistent(url: str) -> None:
    """Nothing half-stored: BM25's counters match the rows, every chunk has postings and a
    vector, every document has chunks."""
    import psycopg

    with psycopg.connect(url) as conn:
        schemas = [row[0] for row in conn.execute("SELECT schema_name FROM polrag.collections")]
        for schema in schemas:
            s = f'"{schema}"'
            chunks, length = conn.execute(
                f"SELECT count(*), coalesce(sum(length), 0) FROM {s}.chunks"
            ).fetchone()
            assert conn.execute(f"SELECT chunks, total_length FROM {s}.stats").fetchone() == (chunks, length)
            assert conn.execute(
                f"SELECT count(*) FROM {s}.chunks c "
                f"WHERE NOT EXISTS (SELECT 1 FROM {s}.postings p WHERE p.chunk_id = c.id)"
            ).fetchone() == (0,)
            assert conn.execute(
                f"SELECT count(*) FROM {s}.documents d "
                f"WHERE NOT EXISTS (SELECT 1 FROM {s}.chunks c WHERE c.document_id = d.id)"
            ).fetchone() == (0,)
