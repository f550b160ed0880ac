"""Page images made ready for OCR: dotted fill-in lines painted over before recognition."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ingest.loaders import parse_bytes
from ingest.ocr_image import remove_dot_leaders
from tests.ingest.ocr_fixtures import (
    DPI,
    FORM_DOTTED_ROWS,
    FORM_ITEMS,
    FORM_LABELS,
    image_bytes,
    image_pdf,
    require_ocr,
    text_image,
)
from tests.ingest.ocr_fixtures import form_image as make_form


def test_form_lines_beside_dotted_fill_lines_are_read() -> None:
    # Tesseract's layout analysis took the dotted lines for part of the text beside them and
    # dropped items 2-4 and "(data)" (Dz.U. 2020 poz. 14 p.3 lost 8 lines this way).
    options = require_ocr()
    text = parse_bytes(image_pdf(make_form()), "form.pdf", ocr=options).pages[0].text
    for line in [*FORM_ITEMS, *FORM_LABELS]:
        assert line in text, f"{line!r} not in {text!r}"


def test_a_form_scanned_to_a_png_is_read() -> None:
    # Images take the dots' size from the resolution they declare (here 200 dpi, options 300).
    options = require_ocr()
    png = image_bytes(make_form(), "PNG", dpi=(DPI, DPI))
    text = parse_bytes(png, "form.png", ocr=replace(options, dpi=300)).pages[0].text
    for line in [*FORM_ITEMS, *FORM_LABELS]:
        assert line in text, f"{line!r} not in {text!r}"


def test_dotted_lines_are_painted_over_and_nothing_else() -> None:
    form = make_form()
    before = np.asarray(form) < 128
    after = np.asarray(remove_dot_leaders(form, DPI)) < 128
    dotted = np.zeros_like(before)
    for row in FORM_DOTTED_ROWS:
        dotted[row - 1 : row + 6] = True
    assert not after[dotted].any(), "a dot of a fill-in line is left"
    assert (after == before)[~dotted].all(), "ink outside the dotted lines changed"


@pytest.mark.parametrize(
    "line", ["Zob. art. 5... oraz i tak dalej", "w pkt viii) lit. ż), iii) i ii) ...... ;;; :: ziiiżż"]
)
def test_letters_dots_and_short_dot_runs_stay(line: str) -> None:
    # An ellipsis, a six-dot run and the dots over i and ż, however close, are not fill lines.
    image = text_image([line])
    assert remove_dot_leaders(image, DPI) is image


def test_a_page_without_print_is_left_alone() -> None:
    from PIL import Image

    blank = Image.new("L", (800, 600), 250)
    assert remove_dot_leaders(blank, DPI) is blank
