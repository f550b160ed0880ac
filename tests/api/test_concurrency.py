"""Searches keep being answered while a large upload ingests; uploads to one collection serialise."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ODPADY, PODATEK, upload


def long_text(number: int, sentences: int = 300) -> bytes:
    """A distinct text document: its own number first, then many chunks of waste-law prose."""
    return (
        f"Sygnatura {number}. " + "Tekst o odpadach zakaźnych i ich unieszkodliwianiu. " * sentences
    ).encode()


@pytest.fixture()
def commit_each_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """Embed and commit every document on its own, so a batch's commits spread over its ingest
    instead of landing together at the end: there is then a state between two of them to see."""
    monkeypatch.setattr("ingest.embed_stage.EMBED_BATCH_CHUNKS", 1)


@pytest.mark.usefixtures("commit_each_document")
def test_searches_succeed_while_an_upload_ingests(client: TestClient) -> None:
    assert upload(client, (ODPADY.name, ODPADY.read_bytes())).status_code == 200
    batch = [(PODATEK.name, PODATEK.read_bytes()), *[(f"dlugi{n}.txt", long_text(n)) for n in range(4)]]
    window: dict[str, float] = {}
    done = threading.Event()
    results: dict[str, object] = {}

    def do_upload() -> None:
        window["start"] = time.monotonic()
        try:
            results["upload"] = upload(client, *batch)
        finally:
            window["end"] = time.monotonic()
            done.set()

    def search_until_done(n: int) -> list[tuple[float, float, int, int, int]]:
        seen = []
        while not done.is_set():
            started = time.monotonic()
            response = client.post("/v1/search", json={"query": f"odpady zakaźne {n}", "k": 3})
            hits = response.json().get("hits", []) if response.status_code == 200 else []
            # every hit must be complete: a half-written document would show up without its rows
            assert all(h["document"] and h["text"] for h in hits)
            documents = len(client.get("/v1/documents").json()["documents"])
            seen.append((started, time.monotonic(), response.status_code, len(hits), documents))
        return seen

    thread = threading.Thread(target=do_upload)
    thread.start()
    with ThreadPoolExecutor(max_workers=4) as pool:
        records = [record for seen in pool.map(search_until_done, range(4)) for record in seen]
    thread.join(timeout=300)
    assert results["upload"].status_code == 200  # type: ignore[attr-defined]
    assert records and all(status == 200 and count > 0 for _, _, status, count, _ in records)
    # Searches were answered while the upload was being ingested, not only before or after it...
    inside = [r for r in records if window["start"] < r[0] and r[1] < window["end"]]
    assert len(inside) >= 5, (len(records), len(inside))
    # ...all through it: a writer that held readers off for the batch would leave a long gap.
    answered = sorted([window["start"], *(r[1] for r in inside), window["end"]])
    longest = max(later - earlier for earlier, later in zip(answered, answered[1:], strict=False))
    span = window["end"] - window["start"]
    assert longest < 0.4 * span, (longest, span)
    # Some ran between two of its documents' commits and saw the first one already.
    assert any(1 < documents < 1 + len(batch) for *_, documents in inside), sorted({r[4] for r in inside})


@pytest.mark.usefixtures("commit_each_document")
def test_two_uploads_to_one_collection_are_serialised(client: TestClient) -> None:
    batches = [[(f"{tag}{n}.txt", long_text(100 * i + n)) for n in range(3)] for i, tag in enumerate("ab")]
    names = [{name for name, _ in batch} for batch in batches]
    done = threading.Event()
    states: list[set[str]] = []

    def watch() -> None:
        while not done.is_set():
            states.append({d["file_name"] for d in client.get("/v1/documents").json()["documents"]})

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            responses = list(pool.map(lambda batch: upload(client, *batch), batches))
    finally:
        done.set()
        watcher.join(timeout=60)
    assert [r.status_code for r in responses] == [200, 200]
    # Seen while they ran: a batch partly committed (so the watcher did look mid-ingest)...
    assert any(state & batch and not batch <= state for state in states for batch in names)
    # ...but never both batches begun with neither finished: one waited for the other.
    for state in states:
        begun = [bool(state & batch) for batch in names]
        finished = [batch <= state for batch in names]
        assert not (all(begun) and not any(finished)), sorted(state)
    # Both batches whole at the end, each document findable by its own number.
    documents = client.get("/v1/documents").json()["documents"]
    assert sorted(d["file_name"] for d in documents) == sorted(names[0] | names[1])
    for i, tag in enumerate("ab"):
        for n in range(3):
            body = {"query": f"Sygnatura {100 * i + n}", "k": 1, "mode": "lexical"}
            hits = client.post("/v1/search", json=body).json()["hits"]
            assert [h["document"] for h in hits] == [f"{tag}{n}.txt"]
