"""Collections as things to manage: list and delete over HTTP and the CLI; no empty leftovers."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app
from tests.api.conftest import ODPADY, PODATEK, upload

BROKEN_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage"


def listed(client: TestClient) -> dict[str, dict[str, object]]:
    response = client.get("/v1/collections")
    assert response.status_code == 200, response.text
    return {c["name"]: c for c in response.json()["collections"]}


def test_list_and_delete_collections(client: TestClient, api_settings) -> None:  # type: ignore[no-untyped-def]
    added = upload(
        client, (ODPADY.name, ODPADY.read_bytes()), (PODATEK.name, PODATEK.read_bytes()), collection="prawo"
    )
    assert added.status_code == 200
    chunks = sum(f["chunks"] for f in added.json()["files"])
    collections = listed(client)
    assert collections["prawo"] == {
        "name": "prawo",
        "documents": 2,
        "chunks": chunks,
        "vectors": chunks,
        "lexical_rows": chunks,
        "error": None,
    }
    assert collections["default"]["documents"] == 0

    assert client.delete("/v1/collections/prawo").status_code == 204
    assert "prawo" not in listed(client)
    assert not (api_settings.index_dir / "prawo").exists()
    assert not [p for p in api_settings.index_dir.iterdir() if p.name.startswith(".deleted-")]
    gone = client.post("/v1/search", json={"query": "odpady zakaźne", "collection": "prawo"})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "collection_not_found"
    again = client.delete("/v1/collections/prawo")
    assert again.status_code == 404 and again.json()["error"]["code"] == "collection_not_found"
    assert client.delete("/v1/collections/..%2Fetc").status_code in (404, 422)

    # Uploaded again under the same name: a fresh collection, nothing of the old one.
    again_added = upload(client, (PODATEK.name, PODATEK.read_bytes()), collection="prawo")
    assert again_added.status_code == 200 and again_added.json()["files"][0]["status"] == "added"
    assert listed(client)["prawo"]["documents"] == 1
    hits = client.post("/v1/search", json={"query": "odpady zakaźne", "collection": "prawo"}).json()["hits"]
    assert hits and {h["document"] for h in hits} == {PODATEK.name}


def test_deleting_the_default_collection_leaves_it_empty(client: TestClient) -> None:
    assert upload(client, (ODPADY.name, ODPADY.read_bytes())).status_code == 200
    assert client.delete("/v1/collections/default").status_code == 204
    assert client.get("/v1/documents").json()["documents"] == []
    assert listed(client)["default"]["documents"] == 0
    assert client.post("/v1/search", json={"query": "odpady zakaźne"}).json()["hits"] == []


def test_a_batch_where_every_file_fails_leaves_no_collection(client: TestClient, api_settings) -> None:  # type: ignore[no-untyped-def]
    failed = upload(client, ("zepsuty.pdf", BROKEN_PDF), ("pusty.txt", b""), collection="nowa")
    assert failed.status_code == 422
    assert not (api_settings.index_dir / "nowa").exists()
    assert "nowa" not in listed(client)
    # A collection that already holds documents keeps them when a later batch fails whole.
    assert upload(client, (ODPADY.name, ODPADY.read_bytes()), collection="nowa").status_code == 200
    assert upload(client, ("zepsuty.pdf", BROKEN_PDF), collection="nowa").status_code == 422
    assert listed(client)["nowa"]["documents"] == 1


runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def test_cli_collections_list_and_delete(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "zepsuty.pdf"
    broken.write_bytes(BROKEN_PDF)
    code, _ = run("ingest", str(broken), "-c", "pusta")
    assert code == 1
    code, _ = run("ingest", str(PODATEK), "-c", "akty")
    assert code == 0

    code, out = run("collections", "list", "--json")
    assert code == 0
    assert [(c["name"], c["documents"]) for c in json.loads(out)["collections"]] == [("akty", 1)]
    code, out = run("collections", "list")
    assert code == 0 and "akty  (1 documents" in out and out.rstrip().endswith("1 collections")

    code, out = run("collections", "delete", "akty", "--json")
    assert code == 0 and json.loads(out) == {"deleted": "akty"}
    code, out = run("collections", "list", "--json")
    assert json.loads(out)["collections"] == []
    assert not (settings.index_dir / "akty").exists()

    from rag.errors import CollectionNotFound

    result = runner.invoke(app, ["collections", "delete", "akty"])
    assert isinstance(result.exception, CollectionNotFound)


def test_a_collection_deleted_by_another_process_is_not_served_stale(
    client: TestClient, api_settings
) -> None:  # type: ignore[no-untyped-def]
    from rag.library import Library

    assert upload(client, (ODPADY.name, ODPADY.read_bytes()), collection="prawo").status_code == 200
    assert client.post("/v1/search", json={"query": "odpady", "collection": "prawo"}).json()["hits"]
    other = Library(api_settings, embedder=client.app.state.services.library.embedder)  # type: ignore[attr-defined]
    try:
        other.delete_collection("prawo")  # as `polrag collections delete prawo` would, beside the server
    finally:
        other.close()
    gone = client.get("/v1/documents", params={"collection": "prawo"})
    assert gone.status_code == 404
    again = upload(client, (PODATEK.name, PODATEK.read_bytes()), collection="prawo")
    assert again.status_code == 200 and again.json()["files"][0]["status"] == "added"
    names = [
        d["file_name"]
        for d in client.get("/v1/documents", params={"collection": "prawo"}).json()["documents"]
    ]
    assert names == [PODATEK.name]


def test_a_deletion_under_way_or_cut_short_is_no_collection(
    client: TestClient, api_settings, embedder, tiny_generator
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from tests.api.conftest import make_client

    assert upload(client, (PODATEK.name, PODATEK.read_bytes()), collection="prawo").status_code == 200
    # What a delete leaves between its rename and its removal, or a kill -9 leaves for good.
    grave = api_settings.index_dir / ".deleted-prawo-0123abcd"
    shutil.copytree(api_settings.index_dir / "prawo", grave)
    assert set(listed(client)) == {"default", "prawo"}
    assert client.get("/readyz").status_code == 200
    with make_client(api_settings, embedder, tiny_generator) as restarted:
        assert not grave.exists()  # removed when the server starts
        assert set(listed(restarted)) == {"default", "prawo"}
