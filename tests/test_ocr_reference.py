"""The OCR benchmark's reference holds only the text a reader sees on the page."""

from __future__ import annotations

import pypdfium2 as pdfium

from bench.ocr_reference import visible_text
from tests.ingest.fixtures import DATA, PDF_1_PAGE
from tests.ingest.ocr_fixtures import image_pdf, text_image, with_text_layer

POZ14 = DATA / "eval" / "DU_2020_poz14.pdf"


def test_heading_clipped_away_is_not_in_the_reference() -> None:
    # Page 3 keeps the annex's original heading ("... (poz. …) WZÓR") outside its clipping
    # path, under the gazette's own heading: drawn once, twice in the text layer.
    page = pdfium.PdfDocument(POZ14.read_bytes())[2]
    layer = page.get_textpage().get_text_range()
    seen, dropped = visible_text(page)
    assert layer.count("Załącznik do rozporządzenia") == 2
    assert seen.count("Załącznik do rozporządzenia") == 1
    assert "(poz. …)" in layer and "(poz. …)" not in seen
    assert seen.count("WZÓR") == 1
    assert dropped == len(layer) - len(seen) > 0
    assert "WNIOSEK O PRZYZNANIE NAGRODY ROCZNEJ" in seen


def test_invisible_text_layer_is_not_in_the_reference() -> None:
    pdf = with_text_layer(image_pdf(text_image()), ["Niewidoczna warstwa tekstu", "druga linia"])
    page = pdfium.PdfDocument(pdf)[0]
    assert "Niewidoczna" in page.get_textpage().get_text_range()
    seen, dropped = visible_text(page)
    assert "Niewidoczna" not in seen and "druga" not in seen
    assert dropped > 0


def test_a_page_drawn_in_full_is_its_text_layer() -> None:
    page = pdfium.PdfDocument(PDF_1_PAGE.read_bytes())[0]
    assert visible_text(page) == (page.get_textpage().get_text_range(), 0)
