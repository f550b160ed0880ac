"""Originals kept per document, page images rendered from them, passages highlighted on the page.

Highlights are checked on the pixels: where an independent search of the PDF's text layer (PDFium's
own text search) puts a phrase of the passage, the page turns yellow; a phrase of a passage elsewhere
on the page stays as it was.
"""

from __future__ import annotations

import hashlib
from io import BytesIO

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ODPADY, PODATEK, upload

WIDTH = 800


def png(response) -> np.ndarray:  # type: ignore[no-untyped-def]
    from PIL import Image

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(BytesIO(response.content)).convert("RGB")).astype(int)


def collection(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.services.library.collection()  # type: ignore[attr-defined]


def chunks(client: TestClient, document_id: str):  # type: ignore[no-untyped-def]
    return collection(client).catalog.chunks_of(document_id)


def phrase_box(pdf: bytes, page: int, text: str, width: int) -> tuple[int, int, int, int] | None:
    """Pixel box (left, top, right, bottom) of ``text``'s only occurrence on the page, by PDFium's search."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        pdf_page = document[page - 1]
        page_width, page_height = pdf_page.get_size()
        textpage = pdf_page.get_textpage()
        searcher = textpage.search(text, match_case=True, match_whole_word=False)
        found = searcher.get_next()
        if found is None or searcher.get_next() is not None:
            return None
        start, count = found
        boxes = [textpage.get_charbox(i) for i in range(start, start + count)]
        boxes = [b for b in boxes if b[2] > b[0]]
        if not boxes or max(b[1] for b in boxes) - min(b[1] for b in boxes) > 2:
            return None  # one line only: a box over two lines would take in text around it
        scale = width / page_width
        return (
            round(min(b[0] for b in boxes) * scale),
            round((page_height - max(b[3] for b in boxes)) * scale),
            round(max(b[2] for b in boxes) * scale),
            round((page_height - min(b[1] for b in boxes)) * scale),
        )
    finally:
        document.close()


def phrase_on_page(pdf: bytes, page: int, text: str, *, last: bool = False) -> tuple[str, tuple] | None:  # type: ignore[type-arg]
    """A four-word phrase of ``text`` found once, on one line, on the page (from its end if ``last``)."""
    words = text.split()
    starts = range(len(words) - 4, -1, -1) if last else range(len(words) - 3)
    for i in starts:
        phrase = " ".join(words[i : i + 4])
        if len(phrase) < 15:
            continue
        box = phrase_box(pdf, page, phrase, WIDTH)
        if box is not None:
            return phrase, box
    return None


def blue(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    left, top, right, bottom = box
    return float(image[top:bottom, left:right, 2].mean())


def is_highlighted(plain: np.ndarray, marked: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    # Translucent yellow over black text on white: red stays, blue drops (by ~40% where white).
    return blue(marked, box) < blue(plain, box) - 25


def test_original_kept_content_addressed_and_removed_with_its_last_document(client: TestClient) -> None:
    data = ODPADY.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    first = upload(client, ("a.pdf", data)).json()["files"][0]["id"]
    second = upload(client, ("b.pdf", data)).json()["files"][0]["id"]  # same bytes, another name
    originals = collection(client).folder / "originals"
    assert [p.name for p in originals.iterdir()] == [sha]
    assert (originals / sha).read_bytes() == data

    assert client.delete(f"/v1/documents/{first}").status_code == 204
    assert (originals / sha).is_file(), "b.pdf still needs it"
    assert client.get(f"/v1/documents/{second}/pages/1?width=300").status_code == 200
    assert client.delete(f"/v1/documents/{second}").status_code == 204
    assert not (originals / sha).exists()


def test_replacing_a_document_drops_the_old_original(client: TestClient) -> None:
    upload(client, ("akt.pdf", ODPADY.read_bytes()))
    upload(client, ("akt.pdf", PODATEK.read_bytes()))  # same name, new bytes: a replace
    originals = collection(client).folder / "originals"
    assert [p.name for p in originals.iterdir()] == [hashlib.sha256(PODATEK.read_bytes()).hexdigest()]


def test_orphan_original_left_by_a_crash_is_removed_by_the_next_write(client: TestClient) -> None:
    ids = upload(client, (ODPADY.name, ODPADY.read_bytes())).json()["files"][0]["id"]
    originals = collection(client).folder / "originals"
    orphan = originals / ("ab" * 32)  # put before a commit that never happened
    orphan.write_bytes(b"%PDF-1.4 half an ingest")
    (originals / f".{'cd' * 32}.1.2.tmp").write_bytes(b"killed mid-copy")
    assert client.delete(f"/v1/documents/{ids}").status_code == 204
    assert list(originals.iterdir()) == []


def test_orphan_original_is_removed_when_the_collection_is_next_opened(library) -> None:  # type: ignore[no-untyped-def]
    from rag.collection import Collection

    target = library.collection(create=True)
    target.originals.folder.mkdir()
    orphan = target.originals.folder / ("ef" * 32)
    orphan.write_bytes(b"left by a crash before its commit")
    again = Collection.open(library.settings.index_dir, target.name, library.expected_manifest())
    try:
        assert not orphan.exists()
    finally:
        again.close()


def test_page_png_at_the_asked_width_and_its_errors(client: TestClient, acts: dict[str, str]) -> None:
    odpady = acts[ODPADY.name]
    image = png(client.get(f"/v1/documents/{odpady}/pages/2?width={WIDTH}"))
    assert image.shape[1] == WIDTH
    assert image.shape[0] == round(842 * WIDTH / 595) or abs(image.shape[0] - 842 * WIDTH / 595) <= 1
    assert image.min() < 50 and image.max() > 240  # text on paper, not a blank bitmap
    assert png(client.get(f"/v1/documents/{odpady}/pages/1")).shape[1] == 1000  # the default

    missing_page = client.get(f"/v1/documents/{odpady}/pages/4")
    assert missing_page.status_code == 404
    assert missing_page.json()["error"]["code"] == "not_found"
    assert client.get(f"/v1/documents/{odpady}/pages/0").status_code == 404
    assert client.get("/v1/documents/nosuchdocument/pages/1").status_code == 404
    for width in (199, 2001):
        too = client.get(f"/v1/documents/{odpady}/pages/1?width={width}")
        assert too.status_code == 422
        assert "width" in too.json()["error"]["message"]
    other = acts[PODATEK.name]
    not_its_own = chunks(client, other)[0].chunk_id
    wrong = client.get(f"/v1/documents/{odpady}/pages/1?highlight={not_its_own}")
    assert wrong.status_code == 404 and "no passage" in wrong.json()["error"]["message"]


def test_page_images_are_cached_with_an_etag(client: TestClient, acts: dict[str, str]) -> None:
    url = f"/v1/documents/{acts[PODATEK.name]}/pages/1?width=400"
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"].startswith("private, max-age=")
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    wider = client.get(url.replace("400", "500"))
    assert wider.headers["etag"] != first.headers["etag"]
    cache = client.app.state.services.page_images  # type: ignore[attr-defined]
    assert first.headers["etag"] in cache._cache


def test_formats_without_pages_have_no_page_image(client: TestClient) -> None:
    text = "Umowa najmu lokalu. Najemca płaci czynsz do dziesiątego dnia miesiąca.\n" * 5
    document = upload(client, ("umowa.txt", text.encode())).json()["files"][0]["id"]
    response = client.get(f"/v1/documents/{document}/pages/1")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_page_image"
    assert "text view" in response.json()["error"]["message"]


def test_document_stored_without_its_original_says_so(client: TestClient, acts: dict[str, str]) -> None:
    target = collection(client)
    for kept in target.originals.folder.iterdir():  # as in a collection made before originals
        kept.unlink()
    response = client.get(f"/v1/documents/{acts[ODPADY.name]}/pages/1")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_original"
    assert "upload it again" in response.json()["error"]["message"]
    upload(client, (ODPADY.name, ODPADY.read_bytes()))  # unchanged, but its original is kept now
    assert client.get(f"/v1/documents/{acts[ODPADY.name]}/pages/1?width=300").status_code == 200


def test_page_over_the_pixel_limit_is_refused(
    api_settings, embedder, tiny_generator, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from rag.settings import load_settings
    from tests.api.conftest import make_client

    monkeypatch.setenv("POLRAG_MAX_IMAGE_PIXELS", "900000")  # an A4 page 1000 px wide is ~1.4 Mpx
    with make_client(load_settings(), embedder, tiny_generator) as client:
        document = upload(client, (PODATEK.name, PODATEK.read_bytes())).json()["files"][0]["id"]
        refused = client.get(f"/v1/documents/{document}/pages/1?width=1000")
        assert refused.status_code == 422
        assert "POLRAG_MAX_IMAGE_PIXELS" in refused.json()["error"]["message"]
        smaller = client.get(f"/v1/documents/{document}/pages/1?width=600")
        assert smaller.status_code == 200, smaller.text


def test_highlight_covers_the_passage_and_not_another_paragraph(
    client: TestClient, acts: dict[str, str]
) -> None:
    document = acts[ODPADY.name]
    pdf = ODPADY.read_bytes()
    on_page_one = [c for c in chunks(client, document) if c.page == 1 and c.last_page == 1]
    assert len(on_page_one) >= 2
    passage, other = on_page_one[0], on_page_one[-1]
    assert passage.chunk_id != other.chunk_id
    inside = phrase_on_page(pdf, 1, passage.text[len(passage.text) // 3 :])
    outside = phrase_on_page(pdf, 1, other.text[len(other.text) // 2 :])
    assert inside is not None and outside is not None
    assert outside[0] not in passage.text

    plain = png(client.get(f"/v1/documents/{document}/pages/1?width={WIDTH}"))
    marked = png(client.get(f"/v1/documents/{document}/pages/1?width={WIDTH}&highlight={passage.chunk_id}"))
    assert is_highlighted(plain, marked, inside[1]), inside
    assert not is_highlighted(plain, marked, outside[1]), outside
    left, top, right, bottom = outside[1]
    assert np.array_equal(plain[top:bottom, left:right], marked[top:bottom, left:right])
    changed = np.argwhere((plain != marked).any(axis=2))
    # Per line, not per character: the marked rows form bands as tall as text lines.
    assert len(np.unique(changed[:, 0])) > 20
    assert (marked[changed[:, 0], changed[:, 1], 0] >= marked[changed[:, 0], changed[:, 1], 2]).all()


def test_passage_spanning_two_pages_is_highlighted_on_both(client: TestClient, acts: dict[str, str]) -> None:
    document = acts[ODPADY.name]
    pdf = ODPADY.read_bytes()
    spanning = [c for c in chunks(client, document) if c.page is not None and c.last_page == c.page + 1]
    assert spanning, "the act has a passage running over a page break"
    passage = spanning[0]
    first, second = passage.page, passage.last_page
    start = phrase_on_page(pdf, first, passage.text[: len(passage.text) // 2])
    end = phrase_on_page(pdf, second, passage.text[len(passage.text) // 2 :], last=True)
    assert start is not None and end is not None
    for page, (_, box) in ((first, start), (second, end)):
        plain = png(client.get(f"/v1/documents/{document}/pages/{page}?width={WIDTH}"))
        marked = png(
            client.get(f"/v1/documents/{document}/pages/{page}?width={WIDTH}&highlight={passage.chunk_id}")
        )
        assert is_highlighted(plain, marked, box), (page, box)
    # A page the passage is not on is drawn as it is.
    other = next(p for p in (1, 2, 3) if p not in (first, second))
    assert np.array_equal(
        png(client.get(f"/v1/documents/{document}/pages/{other}?width=300")),
        png(client.get(f"/v1/documents/{document}/pages/{other}?width=300&highlight={passage.chunk_id}")),
    )


def test_highlight_on_a_page_turned_by_its_rotate_entry(client: TestClient) -> None:
    """A landscape page (/Rotate 90) shows turned; its highlight turns with it: the marked pixels are
    those of the same page unturned, turned by Pillow."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(PODATEK.read_bytes())
    document[0].set_rotation(90)
    turned = BytesIO()
    document.save(turned)
    document.close()
    ids = {
        f["filename"]: f["id"]
        for f in upload(
            client, ("prosty.pdf", PODATEK.read_bytes()), ("obrocony.pdf", turned.getvalue())
        ).json()["files"]
    }

    def marks(name: str, width: int) -> np.ndarray:
        document = ids[name]
        passage = chunks(client, document)[1]  # not the first: the act's heading is centred
        plain = png(client.get(f"/v1/documents/{document}/pages/1?width={width}"))
        marked = png(
            client.get(f"/v1/documents/{document}/pages/1?width={width}&highlight={passage.chunk_id}")
        )
        return marked[:, :, 2] < plain[:, :, 2] - 20

    upright = marks("prosty.pdf", 566)
    sideways = marks("obrocony.pdf", 800)
    assert upright.sum() > 5000
    expected = np.rot90(upright, k=-1)  # a quarter turn clockwise, as /Rotate 90 shows it
    rows, cols = min(expected.shape[0], sideways.shape[0]), min(expected.shape[1], sideways.shape[1])
    expected, sideways = expected[:rows, :cols], sideways[:rows, :cols]
    overlap = (expected & sideways).sum() / (expected | sideways).sum()
    assert overlap > 0.8, overlap


def test_a_pdf_pdfium_cannot_open_has_no_page_image_but_a_text_view(client: TestClient) -> None:
    document = upload(client, (PODATEK.name, PODATEK.read_bytes())).json()["files"][0]["id"]
    target = collection(client)
    info = target.document(document)
    (target.originals.folder / info.sha256).write_bytes(b"%PDF-1.4 no longer a PDF PDFium can open")
    response = client.get(f"/v1/documents/{document}/pages/1")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "no_page_image"
    assert "text view" in response.json()["error"]["message"]
    assert client.get(f"/v1/documents/{document}/text?page=1").json()["text"]
