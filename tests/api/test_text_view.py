"""The text view: a page's cleaned text, or a passage with its neighbours, with the passage's spans."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import ODPADY, upload
from tests.api.test_page_images import chunks, collection


def test_page_text_with_the_passage_highlighted(client: TestClient, acts: dict[str, str]) -> None:
    document = acts[ODPADY.name]
    spanning = next(c for c in chunks(client, document) if c.last_page == (c.page or 0) + 1)
    first = client.get(f"/v1/documents/{document}/text?page={spanning.page}&highlight={spanning.chunk_id}")
    assert first.status_code == 200, first.text
    view = first.json()
    assert view["document_id"] == document and view["file_name"] == ODPADY.name
    assert view["page"] == spanning.page and view["pages"] == 3 and view["has_page_images"] is True
    [[start, end]] = view["highlights"]
    assert end == len(view["text"].rstrip()) or end == len(view["text"])  # runs on to the next page
    assert spanning.text.startswith(view["text"][start:end])
    assert len(view["text"][start:end]) > 20

    second = client.get(
        f"/v1/documents/{document}/text?page={spanning.last_page}&highlight={spanning.chunk_id}"
    )
    [[start, end]] = second.json()["highlights"]
    assert start == 0
    assert spanning.text.endswith(second.json()["text"][start:end])
    # The two pieces are the whole passage (joined across the page break by one separator).
    assert len(view["text"][view["highlights"][0][0] :]) + 1 + end == len(spanning.text)


def test_page_defaults_to_the_passage_page_and_pages_count_from_one(
    client: TestClient, acts: dict[str, str]
) -> None:
    document = acts[ODPADY.name]
    on_two = next(c for c in chunks(client, document) if c.page == 2)
    view = client.get(f"/v1/documents/{document}/text?highlight={on_two.chunk_id}").json()
    assert view["page"] == 2 and view["highlights"]
    plain = client.get(f"/v1/documents/{document}/text?page=3").json()
    assert plain["page"] == 3 and plain["highlights"] == [] and plain["text"]
    elsewhere = client.get(f"/v1/documents/{document}/text?page=1&highlight={on_two.chunk_id}").json()
    assert elsewhere["highlights"] == []
    missing = client.get(f"/v1/documents/{document}/text?page=4")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get(f"/v1/documents/{document}/text?page=0").status_code == 422
    assert client.get("/v1/documents/nosuch/text").status_code == 404


def test_document_without_pages_shows_the_passage_in_bounded_context(client: TestClient) -> None:
    paragraphs = [
        f"Paragraf {i}. Najemca lokalu numer {i} płaci czynsz w wysokości {100 + i} złotych miesięcznie "
        f"do dziesiątego dnia miesiąca, a wynajmujący wydaje pokwitowanie numer {i}."
        for i in range(400)
    ]
    text = "\n".join(paragraphs)  # ~60,000 characters: far more than a view holds
    document = upload(client, ("umowa.txt", text.encode())).json()["files"][0]["id"]
    passages = chunks(client, document)
    middle = passages[len(passages) // 2]
    response = client.get(f"/v1/documents/{document}/text?highlight={middle.chunk_id}")
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["page"] is None and view["has_page_images"] is False
    assert 3000 < len(view["text"]) <= 6000
    [[start, end]] = view["highlights"]
    assert view["text"][start:end] == middle.text
    assert start > 1000 and len(view["text"]) - end > 1000, "neighbours on both sides"
    # No highlight: the document's beginning.
    assert client.get(f"/v1/documents/{document}/text").json()["text"].startswith("Paragraf 0.")


def test_text_view_of_a_collection_stored_before_page_texts(client: TestClient, acts: dict[str, str]) -> None:
    document = acts[ODPADY.name]
    passage = next(c for c in chunks(client, document) if c.page == 1)
    target = collection(client)
    with target.catalog.transaction() as db:  # as a collection made before page texts were kept
        db.execute("DELETE FROM page_texts")
    view = client.get(f"/v1/documents/{document}/text?highlight={passage.chunk_id}").json()
    assert view["page"] == 1
    [[start, end]] = view["highlights"]
    assert view["text"][start:end] == passage.text
