"""Text a reader cannot see on a PDF page is not indexed, and highlights go to what is seen."""

from __future__ import annotations

import pypdfium2 as pdfium

from ingest.loaders.pdf import load_pdf
from ingest.ocr import OcrOptions
from rag.passage_boxes import text_layer_boxes
from rag.pdf_drawn_text import crop_box, drawn_text
from tests.ingest.fixtures import DATA, pdf_drawing, text_at
from tests.ingest.ocr_fixtures import image_pdf, text_image, with_text_layer

POZ14 = DATA / "eval" / "DU_2020_poz14.pdf"
NO_OCR = OcrOptions(mode="off")
# A heading drawn under a clip of 10 x 10 points in the page's corner: in the text layer, not on the page.
CLIPPED = "q 0 0 10 10 re W n " + text_at(72, 780, "Naglowek oryginalu zalacznika") + "Q\n"


def test_text_clipped_away_is_not_indexed() -> None:
    pdf = pdf_drawing(CLIPPED + text_at(72, 700, "Tresc widoczna na stronie"))
    (page,) = load_pdf(pdf, ocr=NO_OCR)
    assert "Tresc widoczna na stronie" in page.text
    assert "oryginalu" not in page.text


def test_text_outside_the_crop_box_is_not_indexed() -> None:
    pdf = pdf_drawing(
        text_at(72, 800, "Poza polem strony") + text_at(72, 400, "Na stronie"), crop_box=(0, 0, 595, 600)
    )
    (page,) = load_pdf(pdf, ocr=NO_OCR)
    assert "Na stronie" in page.text
    assert "Poza polem" not in page.text


def test_real_act_keeps_its_annex_heading_once() -> None:
    # Dz.U. 2020 poz. 14 p.3 keeps the annex's original heading clipped away under the gazette's own.
    pages = load_pdf(POZ14.read_bytes(), ocr=NO_OCR)
    assert pages[2].text.count("Załącznik do rozporządzenia") == 1
    assert "(poz. …)" not in pages[2].text
    assert "WNIOSEK O PRZYZNANIE NAGRODY ROCZNEJ" in pages[2].text
    assert pages[0].text == pdfium.PdfDocument(POZ14.read_bytes())[0].get_textpage().get_text_range()


def test_a_searchable_scans_invisible_layer_is_kept() -> None:
    # ocrmypdf and scanners put their OCR over the page image in render mode 3 (invisible).
    pdf = with_text_layer(image_pdf(text_image()), ["Warstwa tekstu skanu", "druga linia"])
    page = pdfium.PdfDocument(pdf)[0]
    text, _ = drawn_text(page.get_textpage(), crop_box(page))
    assert "Warstwa tekstu skanu" in text and "druga linia" in text
    painted, _ = drawn_text(page.get_textpage(), crop_box(page), "painted")
    assert "Warstwa" not in painted


def test_highlight_goes_to_the_copy_that_is_drawn() -> None:
    # The clipped copy comes first in the text layer, near the top; the drawn one is lower down.
    phrase = "Naglowek oryginalu zalacznika"
    pdf = pdf_drawing(CLIPPED + text_at(72, 300, phrase))
    page = pdfium.PdfDocument(pdf)[0]
    boxes = text_layer_boxes(page.get_textpage(), phrase, page.get_cropbox())
    assert boxes
    top = min(box[1] for box in boxes)
    assert 0.6 < top < 0.7  # y = 300 of 842 points, from the top: 0.64


def test_hidden_text_between_the_lines_of_a_passage_gets_no_box() -> None:
    pdf = pdf_drawing(text_at(72, 500, "Pierwsza linia") + CLIPPED + text_at(72, 480, "druga linia"))
    page = pdfium.PdfDocument(pdf)[0]
    boxes = text_layer_boxes(page.get_textpage(), "Pierwsza linia druga linia", page.get_cropbox())
    assert boxes
    assert all(0.35 < box[1] < 0.5 for box in boxes), boxes  # y = 500 and 480 of 842 from the top


# Text far up a large form XObject, the form shifted down onto the page: drawn at (100, 100).
SHIFTED = "1 0 0 1 -1400 -1400"
IN_FORM = text_at(1500, 1500, "Tresc w formularzu")


def test_text_of_a_shifted_form_xobject_is_indexed() -> None:
    # Its bounds are in the form's space, off the page; mapped through the form's matrix they are on it.
    by_cm = pdf_drawing(f"q {SHIFTED} cm /X1 Do Q\n", form=IN_FORM)
    by_matrix = pdf_drawing("/X1 Do\n", form=IN_FORM, form_matrix=SHIFTED)
    for pdf in (by_cm, by_matrix):
        (page,) = load_pdf(pdf, ocr=NO_OCR)
        assert "Tresc w formularzu" in page.text


def test_text_clipped_away_inside_a_shifted_form_is_not_indexed() -> None:
    form = "q 1400 1400 10 10 re W n " + text_at(1500, 1600, "Ukryty naglowek") + "Q\n" + IN_FORM
    (page,) = load_pdf(pdf_drawing(f"q {SHIFTED} cm /X1 Do Q\n", form=form), ocr=NO_OCR)
    assert "Tresc w formularzu" in page.text
    assert "Ukryty" not in page.text
    # A form drawn under a clip of the page's corner shows none of its text.
    (page,) = load_pdf(pdf_drawing(f"q 0 0 10 10 re W n {SHIFTED} cm /X1 Do Q\n", form=IN_FORM), ocr=NO_OCR)
    assert "formularzu" not in page.text
