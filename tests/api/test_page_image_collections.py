"""Page images of one document in two collections: each collection's passage is highlighted, even
when both collections carry the same creation stamp (chunk ids are per collection), and a collection
deleted and made again within one second is not taken for the one before."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ODPADY, PODATEK, upload


def test_same_document_and_chunk_id_in_two_collections_made_in_one_second(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.collection

    monkeypatch.setattr(rag.collection, "creation_stamp", lambda: "2026-01-01T00:00:00+00:00")
    # "b" spends its first chunk ids on a document it then drops: the act's chunks there come later.
    assert upload(client, (PODATEK.name, PODATEK.read_bytes()), collection="b").status_code == 200
    (podatek,) = client.get("/v1/documents", params={"collection": "b"}).json()["documents"]
    assert client.delete(f"/v1/documents/{podatek['id']}", params={"collection": "b"}).status_code == 204
    for name in ("a", "b"):
        response = upload(client, (ODPADY.name, ODPADY.read_bytes()), collection=name)
        assert response.status_code == 200, response.text
    library = client.app.state.services.library  # type: ignore[attr-defined]
    a, b = library.collection("a"), library.collection("b")
    assert a.manifest.created_at == b.manifest.created_at
    (document_id,) = {d.id for d in a.catalog.list_documents()} | {d.id for d in b.catalog.list_documents()}
    # A chunk id that is a passage of the act on page 1 in both collections, but not the same one.
    shared = next(
        chunk_id
        for chunk_id in range(1, 1000)
        if (in_a := a.passage(chunk_id)) is not None
        and (in_b := b.passage(chunk_id)) is not None
        and in_a.first_page == in_b.first_page == 1
        and in_a.text != in_b.text
    )
    images = {}
    for name in ("a", "b"):
        response = client.get(
            f"/v1/documents/{document_id}/pages/1",
            params={"collection": name, "highlight": shared, "width": 600},
        )
        assert response.status_code == 200, response.text
        images[name] = (response.headers["etag"], response.content)
    assert images["a"][0] != images["b"][0]
    assert images["a"][1] != images["b"][1]


def test_a_collection_deleted_and_made_again_within_one_second_gets_new_page_image_tags(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.manifest

    # Every reading of the clock falls in one second (a fast delete and re-upload); only the
    # microseconds move on.
    ticks = itertools.count(1)

    class OneSecond(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
            return datetime(2026, 1, 1, 12, 0, 0, next(ticks), tzinfo=tz or UTC)

    monkeypatch.setattr(rag.manifest, "datetime", OneSecond)
    tags = []
    for _ in range(2):
        assert upload(client, (ODPADY.name, ODPADY.read_bytes()), collection="c").status_code == 200
        (document,) = client.get("/v1/documents", params={"collection": "c"}).json()["documents"]
        response = client.get(
            f"/v1/documents/{document['id']}/pages/1",
            params={"collection": "c", "highlight": 1, "width": 400},
        )
        assert response.status_code == 200, response.text
        tags.append(response.headers["etag"])
        assert client.delete("/v1/collections/c").status_code == 204
    # Same document, page, width and chunk id 1, but not the same collection: a browser holding
    # the first image must not be told it is still good.
    assert tags[0] != tags[1]
