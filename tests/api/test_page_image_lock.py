"""A page image reads what it needs from the store before it takes PDFium's process-wide lock: a
slow store (a database over the network) must not hold up every other render and the ingest."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ODPADY, upload
from tests.api.test_page_images import chunks
from tests.ingest.test_pdf_ocr_lock import lock_free_elsewhere


def test_page_words_are_read_without_the_pdfium_lock(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = upload(client, (ODPADY.name, ODPADY.read_bytes()))
    assert response.status_code == 200, response.text
    (document_id,) = [f["id"] for f in response.json()["files"]]
    target = client.app.state.services.library.collection()  # type: ignore[attr-defined]
    chunk = next(c for c in chunks(client, document_id) if c.page == 1)
    free_while_reading: list[bool] = []
    real = type(target).page_words

    def page_words(self: Any, *args: Any) -> Any:
        free_while_reading.append(lock_free_elsewhere())
        return real(self, *args)

    monkeypatch.setattr(type(target), "page_words", page_words)
    response = client.get(f"/v1/documents/{document_id}/pages/1", params={"highlight": chunk.chunk_id})
    assert response.status_code == 200, response.text
    assert free_while_reading == [True]
