"""Highlights on pages read by OCR: a scanned PDF page and an image document, from the words' boxes."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import upload
from tests.api.test_page_images import chunks, png
from tests.ingest.ocr_fixtures import image_bytes, image_pdf, require_ocr, text_image

WORDS = (
    "Premię za sumienną pracę w dziale kadr",
    "Urlop wypoczynkowy w pierwszym kwartale",
    "Zwrot kosztów podróży służbowej do Krakowa",
    "Nagrodę jubileuszową po dwudziestu latach",
    "Dodatek za pracę w godzinach nocnych",
)
# Prose, not a numbered list: Tesseract's orientation check turns a page of short aligned list
# lines on its side (reported; not this test's subject).
LINES = [f"{WORDS[i % len(WORDS)]} otrzymuje pracownik numer {i} w tym roku." for i in range(1, 41)]
TOP, STEP, SIZE = 60, 60, 34  # where text_image draws line r: from TOP + STEP * r, SIZE px tall


@pytest.fixture(scope="module")
def scan():  # type: ignore[no-untyped-def]
    require_ocr()
    return text_image(LINES)


def line_band(row: int, image_height: int, rendered_height: int) -> tuple[int, int]:
    scale = rendered_height / image_height
    return round((TOP + STEP * row + 4) * scale), round((TOP + STEP * row + SIZE) * scale)


def only_in(passage: str, others: list[str]) -> list[int]:
    """Rows whose line number is in ``passage`` and in none of ``others``."""
    return [
        row
        for row in range(len(LINES))
        if f"numer {row + 1} w" in passage and not any(f"numer {row + 1} w" in other for other in others)
    ]


def check_highlight(client: TestClient, document: str, scan, width: int) -> None:  # type: ignore[no-untyped-def]
    passages = chunks(client, document)
    assert len(passages) >= 2, [p.text for p in passages]
    first, last = passages[0], passages[-1]
    inside = only_in(first.text, [last.text])
    outside = only_in(last.text, [first.text])
    assert inside and outside, [p.text for p in passages]
    plain = png(client.get(f"/v1/documents/{document}/pages/1?width={width}"))
    marked = png(client.get(f"/v1/documents/{document}/pages/1?width={width}&highlight={first.chunk_id}"))
    for row, expected in ((inside[len(inside) // 2], True), (outside[len(outside) // 2], False)):
        top, bottom = line_band(row, scan.height, plain.shape[0])
        left, right = round(0.1 * width), round(0.5 * width)
        before = plain[top:bottom, left:right, 2].mean()
        after = marked[top:bottom, left:right, 2].mean()
        assert bool(after < before - 25) is expected, (row, LINES[row], before, after)


def test_highlight_on_a_scanned_pdf_page(client: TestClient, scan) -> None:  # type: ignore[no-untyped-def]
    response = upload(client, ("skan.pdf", image_pdf(scan)))
    assert response.status_code == 200, response.text
    document = response.json()["files"][0]["id"]
    listed = {d["id"]: d for d in client.get("/v1/documents").json()["documents"]}
    assert listed[document]["read_by"] == "ocr"
    check_highlight(client, document, scan, 700)


def test_image_document_page_is_the_image_with_the_passage_highlighted(client: TestClient, scan) -> None:  # type: ignore[no-untyped-def]
    response = upload(client, ("skan.png", image_bytes(scan, "PNG", dpi=(200, 200))))
    assert response.status_code == 200, response.text
    document = response.json()["files"][0]["id"]
    image = png(client.get(f"/v1/documents/{document}/pages/1?width=827"))
    assert image.shape[:2] == (round(scan.height * 827 / scan.width), 827)
    expected = np.asarray(scan.resize((827, image.shape[0])).convert("RGB")).astype(int)
    assert np.abs(image - expected).mean() < 8  # the image itself, scaled
    assert client.get(f"/v1/documents/{document}/pages/2").status_code == 404
    check_highlight(client, document, scan, 827)


def test_document_list_says_how_each_document_was_read(client: TestClient, scan) -> None:  # type: ignore[no-untyped-def]
    from tests.api.conftest import PODATEK
    from tests.ingest.ocr_fixtures import concat_pdfs

    mixed = concat_pdfs(PODATEK.read_bytes(), image_pdf(scan))
    response = upload(client, ("tekst.pdf", PODATEK.read_bytes()), ("mieszany.pdf", mixed))
    assert response.status_code == 200, response.text
    read_by = {d["file_name"]: d["read_by"] for d in client.get("/v1/documents").json()["documents"]}
    assert read_by == {"tekst.pdf": "text", "mieszany.pdf": "mixed"}
    ids = {f["filename"]: f["id"] for f in response.json()["files"]}
    assert client.get(f"/v1/documents/{ids['mieszany.pdf']}").json()["read_by"] == "mixed"


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_words_of_a_page_read_turned_are_boxed_on_the_page_as_it_is(angle: int) -> None:
    """OCR reads a sideways scan turned upright; the boxes a page view draws are of the page as it is."""
    from ingest.loaders import parse_bytes
    from tests.ingest.ocr_fixtures import LINES as SHORT

    options = require_ocr()
    upright = parse_bytes(image_pdf(text_image(SHORT)), "prosty.pdf", ocr=options).pages[0]
    turned = parse_bytes(image_pdf(text_image(SHORT, angle=angle)), "obrocony.pdf", ocr=options).pages[0]
    first = next(w for w in upright.words if w.text.startswith("Rozporz"))
    found = next(w for w in turned.words if w.text.startswith("Rozporz"))
    # Where Pillow's counter-clockwise turn by ``angle`` takes the upright word's box.
    left, top, right, bottom = first.left, first.top, first.right, first.bottom
    expected = {
        90: (top, 1 - right, bottom, 1 - left),
        180: (1 - right, 1 - bottom, 1 - left, 1 - top),
        270: (1 - bottom, left, 1 - top, right),
    }[angle]
    got = (found.left, found.top, found.right, found.bottom)
    assert all(abs(a - b) < 0.03 for a, b in zip(got, expected, strict=True)), (got, expected)
