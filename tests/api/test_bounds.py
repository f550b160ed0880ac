"""Bounded resources and clear refusals: job queue, the per-collection upload wait, body cap, /readyz."""

from __future__ import annotations

import os
import threading
import time

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ODPADY, make_client, upload


def error_of(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return response.json()["error"]


@pytest.fixture()
def bounded_settings(api_settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from rag.settings import load_settings

    monkeypatch.setenv("POLRAG_UPLOAD_JOBS", "1")
    monkeypatch.setenv("POLRAG_UPLOAD_JOBS_QUEUED", "0")
    monkeypatch.setenv("POLRAG_UPLOAD_WAIT_S", "0.5")
    return load_settings()


def test_background_jobs_past_the_queue_get_429_with_retry_after(
    bounded_settings, embedder, tiny_generator
) -> None:  # type: ignore[no-untyped-def]
    with make_client(bounded_settings, embedder, tiny_generator) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        lock = services._lock_for(bounded_settings.collection)
        lock.acquire()  # an upload in progress: the first job waits for it on its job thread
        try:
            first = client.post(
                "/v1/documents?background=true", files=[("files", (ODPADY.name, ODPADY.read_bytes()))]
            )
            assert first.status_code == 202
            second = client.post(
                "/v1/documents?background=true", files=[("files", (ODPADY.name, ODPADY.read_bytes()))]
            )
            assert second.status_code == 429, second.text
            assert error_of(second)["code"] == "too_many_jobs"
            assert "POLRAG_UPLOAD_JOBS" in error_of(second)["message"]
            assert int(second.headers["Retry-After"]) > 0
            assert len(os.listdir(services.upload_dir)) == 1  # the waiting job's files; not the refused
        finally:
            lock.release()
        deadline = time.monotonic() + 60
        while (job := client.get(first.json()["url"]).json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["status"] == "done" and job["files"][0]["status"] == "added"
        # The slot is free again: the next job is taken.
        third = client.post(
            "/v1/documents?background=true", files=[("files", (ODPADY.name, ODPADY.read_bytes()))]
        )
        assert third.status_code == 202


def test_upload_waiting_for_another_upload_times_out_with_409(
    bounded_settings, embedder, tiny_generator
) -> None:  # type: ignore[no-untyped-def]
    with make_client(bounded_settings, embedder, tiny_generator) as client:
        lock = client.app.state.services._lock_for(bounded_settings.collection)  # type: ignore[attr-defined]
        lock.acquire()
        # Released after 10 s whatever happens, so an upload that waits without limit shows as
        # a slow 200 here rather than a hung test.
        threading.Timer(10, lock.release).start()
        started = time.monotonic()
        response = upload(client, (ODPADY.name, ODPADY.read_bytes()))
        waited = time.monotonic() - started
        assert response.status_code == 409, response.text
        assert error_of(response)["code"] == "collection_busy"
        assert "POLRAG_UPLOAD_WAIT_S" in error_of(response)["message"]
        assert int(response.headers["Retry-After"]) > 0
        assert waited < 8
        # Searches were never held up by the waiting upload.
        assert client.post("/v1/search", json={"query": "odpady"}).status_code == 200


def test_request_wide_upload_cap_is_twenty_files_worth(client: TestClient) -> None:
    """POLRAG_MAX_UPLOAD_MB is 1 here: each file may be up to 1 MiB, a request up to 20 MiB."""
    services = client.app.state.services  # type: ignore[attr-defined]
    part = b"\x00\x01junk" * 166_000  # 0.95 MiB: under the per-file limit, of no known type
    under = [("files", (f"plik{i}.bin", part)) for i in range(20)]
    response = client.post("/v1/documents", files=under)
    # Under the cap every file was received and examined (refused by type, not by size).
    assert response.status_code == 415, response.text
    assert len(response.json()["files"]) == 20

    over = [("files", (f"plik{i}.bin", part)) for i in range(22)]
    response = client.post("/v1/documents", files=over)
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"
    assert "20 MiB" in error_of(response)["message"]
    assert not any(services.upload_dir.iterdir())  # nothing of it left on disk

    def streamed():  # type: ignore[no-untyped-def]
        boundary = b"--x\r\n"
        for i in range(22):
            yield (
                boundary
                + f'Content-Disposition: form-data; name="files"; filename="p{i}.bin"\r\n\r\n'.encode()
            )
            yield part + b"\r\n"
        yield b"--x--\r\n"

    response = client.post(
        "/v1/documents", content=streamed(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"
    assert not any(services.upload_dir.iterdir())


def test_readyz_without_a_key_says_only_ready_or_not(
    api_settings, embedder, tiny_generator, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from rag.settings import load_settings

    monkeypatch.setenv("POLRAG_API_KEYS", "klucz-1")
    monkeypatch.setenv("POLRAG_COLLECTION", "tajne-akta")
    settings = load_settings()
    with make_client(settings, embedder, tiny_generator) as client:
        anonymous = client.get("/readyz")
        assert anonymous.status_code == 200 and anonymous.json() == {"status": "ready"}
        wrong = client.get("/readyz", headers={"Authorization": "Bearer zly"})
        assert wrong.json() == {"status": "ready"}
        keyed = client.get("/readyz", headers={"Authorization": "Bearer klucz-1"})
        assert keyed.json()["collections"] == ["tajne-akta"]
        assert keyed.json()["model"] == tiny_generator.model_name


def test_readyz_not_ready_without_a_key_hides_the_cause(
    api_settings, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from api.app import create_app
    from rag.library import Library
    from rag.settings import load_settings

    monkeypatch.setenv("POLRAG_API_KEYS", "klucz-1")
    monkeypatch.setenv("POLRAG_LLM_BACKEND", "openai")
    monkeypatch.setenv("POLRAG_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("POLRAG_LLM_MODEL", "/srv/modele/bielik")
    monkeypatch.setenv("POLRAG_LLM_TOKENIZER", "/nonexistent")
    settings = load_settings()
    with TestClient(create_app(settings, library=Library(settings, embedder=embedder))) as client:
        anonymous = client.get("/readyz")
        assert anonymous.status_code == 503 and error_of(anonymous)["code"] == "generator_unavailable"
        message = error_of(anonymous)["message"]
        assert "/srv/modele" not in message and "127.0.0.1" not in message and "default" not in message
        keyed = client.get("/readyz", headers={"Authorization": "Bearer klucz-1"})
        assert keyed.status_code == 503 and "http://127.0.0.1:9/v1" in error_of(keyed)["message"]


def test_readyz_stays_ready_when_a_collection_is_deleted_while_it_looks(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    listed = services.library.collection_names()
    # Listed, then deleted by another request before readyz opened it (the old code: 503).
    monkeypatch.setattr(services.library, "collection_names", lambda: [*listed, "usunieta"])
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
