"""An app with the real MiniLM embedder and the tiny Bielik-shaped generator, per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

DATA = Path(__file__).parent.parent / "data"
ODPADY = DATA / "DU_2020_poz3.pdf"  # infectious waste regulation, 3 pages
PODATEK = DATA / "DU_2020_poz12.pdf"  # income tax waiver, 1 page


@pytest.fixture()
def api_settings(settings, tiny_llm_path: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from rag.settings import load_settings

    monkeypatch.setenv("POLRAG_LLM_MODEL", tiny_llm_path)
    monkeypatch.setenv("POLRAG_LLM_MAX_NEW_TOKENS", "8")
    monkeypatch.setenv("POLRAG_MAX_UPLOAD_MB", "1")
    return load_settings()


def make_client(settings, embedder, generator) -> TestClient:  # type: ignore[no-untyped-def]
    from api.app import create_app
    from rag.library import Library

    return TestClient(create_app(settings, library=Library(settings, embedder=embedder), generator=generator))


@pytest.fixture()
def client(api_settings, embedder, tiny_generator) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with make_client(api_settings, embedder, tiny_generator) as test_client:
        yield test_client


def upload(client: TestClient, *files: tuple[str, bytes], **data: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/documents", files=[("files", (name, body)) for name, body in files], data=data)


@pytest.fixture()
def acts(client: TestClient) -> dict[str, str]:
    """The two acts uploaded; their ids by file name."""
    response = upload(client, (ODPADY.name, ODPADY.read_bytes()), (PODATEK.name, PODATEK.read_bytes()))
    assert response.status_code == 200, response.text
    return {f["filename"]: f["id"] for f in response.json()["files"]}
