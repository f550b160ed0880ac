"""Searches keep being answered while a large upload ingests; uploads to one collection serialise."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import ODPADY, upload


def test_searches_succeed_while_an_upload_ingests(client: TestClient, real_pdfs: list[Path]) -> None:
    assert upload(client, (ODPADY.name, ODPADY.read_bytes())).status_code == 200
    big = [(p.name, p.read_bytes()) for p in real_pdfs]  # the other act too: several documents to commit
    uploading = threading.Event()
    results: dict[str, object] = {}

    def do_upload() -> None:
        uploading.set()
        long_text = ("Tekst o odpadach zakaźnych i ich unieszkodliwianiu. " * 400).encode()
        results["upload"] = upload(client, *big, ("dlugi.txt", long_text))

    def search(n: int) -> tuple[int, int]:
        response = client.post("/v1/search", json={"query": f"odpady zakaźne {n}", "k": 3})
        hits = response.json().get("hits", []) if response.status_code == 200 else []
        # every hit must be complete: a half-written document would show up without its rows
        assert all(h["document"] and h["text"] for h in hits)
        return response.status_code, len(hits)

    thread = threading.Thread(target=do_upload)
    thread.start()
    uploading.wait()
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(search, range(20)))
    thread.join(timeout=300)
    assert [status for status, _ in outcomes] == [200] * 20
    assert all(count > 0 for _, count in outcomes)
    assert results["upload"].status_code == 200  # type: ignore[attr-defined]


def test_two_uploads_to_one_collection_are_serialised(client: TestClient, real_pdfs: list[Path]) -> None:
    files = [[(p.name, p.read_bytes())] for p in real_pdfs] + [[(ODPADY.name, ODPADY.read_bytes())]]
    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        responses = list(pool.map(lambda batch: upload(client, *batch), files))
    assert [r.status_code for r in responses] == [200] * len(files)
    documents = client.get("/v1/documents").json()["documents"]
    assert sorted(d["file_name"] for d in documents) == sorted({p.name for p in real_pdfs} | {ODPADY.name})
    total_chunks = sum(d["chunks"] for d in documents)
    hits = client.post("/v1/search", json={"query": "rozporządzenie", "k": 100, "mode": "lexical"}).json()[
        "hits"
    ]
    assert 0 < len(hits) <= total_chunks
