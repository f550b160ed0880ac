"""OCR of scanned pages: per-page decision, rotation, image formats, unreadable pages."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ingest.limits import DocumentLimits
from ingest.loaders import parse_bytes
from ingest.ocr import OcrOptions
from ingest.ocr_decision import ocr_reason
from rag.errors import BadDocumentError, DocumentTooLarge
from tests.ingest.fixtures import PDF_1_PAGE, PDF_3_PAGES
from tests.ingest.ocr_fixtures import (
    LINES,
    blank_image,
    caesar,
    concat_pdfs,
    image_bytes,
    image_pdf,
    noise_image,
    require_ocr,
    text_image,
    with_text_layer,
)

DIACRITICS = "ąćęłńóśźż"


def assert_read(text: str) -> None:
    """The drawn lines came back, Polish letters included."""
    for phrase in ("Rozporządzenie Ministra Klimatu", "warunków uznania odpadów", "zarządza się"):
        assert phrase in text, f"{phrase!r} not in {text!r}"
    assert "źródła, łączność, gęś" in text


# -- the decision, measured on the text layer (no Tesseract needed) -------------------------


def test_good_polish_text_layer_is_kept() -> None:
    prose = " ".join(LINES * 3)
    assert ocr_reason(prose, 0.0, "auto") is None
    assert ocr_reason(prose, 1.0, "auto") is None  # a page over a background image, full text
    assert ocr_reason(prose, 0.0, "force") == "OCR forced"
    assert ocr_reason("", 1.0, "off") is None


@pytest.mark.parametrize(
    ("text", "image_share", "reason"),
    [
        ("  \n ", 1.0, "no text layer"),
        ("Podpis", 0.9, "images cover the page, little text layer"),
        ("(cid:12)(cid:7)(cid:41) " * 30 + "ustawa", 0.0, "garbage text layer: unmapped characters"),
        ("\ufffd\ufffd ab " * 40, 0.0, "garbage text layer: unmapped characters"),
        (
            "\n".join("ustawa o odpadach i o zmianie innych ustaw"),
            0.0,
            "garbage text layer: one character per line",
        ),
        (caesar(" ".join(LINES * 2).lower()), 0.0, "garbage text layer: few known words"),
    ],
)
def test_garbage_text_layers_are_recognised(text: str, image_share: float, reason: str) -> None:
    assert ocr_reason(text, image_share, "auto") == reason


def test_real_acts_keep_their_text_layer() -> None:
    options = require_ocr()
    for path in (PDF_1_PAGE, PDF_3_PAGES):
        pages = parse_bytes(path.read_bytes(), path.name, ocr=options).pages
        assert {page.method for page in pages} == {"text"}, path.name


# -- OCR --------------------------------------------------------------------------------------


def test_image_only_pdf_is_read_by_ocr() -> None:
    options = require_ocr()
    document = parse_bytes(image_pdf(text_image()), "skan.pdf", ocr=options)
    (page,) = document.pages
    assert (page.number, page.method) == (1, "ocr")
    assert_read(page.text)
    assert "§ 2. Rozporządzenie wchodzi w życie" in page.text  # Tesseract's "$ 2." put right
    assert page.confidence is not None and page.confidence > 80
    # Word boxes, as fractions of the page, for a page view that highlights a passage.
    first = page.words[0]
    assert first.text == "Rozporządzenie" and 0 < first.left < first.right < 0.5 and first.top < first.bottom


def test_mixed_pdf_is_read_page_by_page() -> None:
    options = require_ocr()
    data = concat_pdfs(PDF_1_PAGE.read_bytes(), image_pdf(text_image()))
    pages = parse_bytes(data, "uchwala_z_zalacznikiem.pdf", ocr=options).pages
    assert [(p.number, p.method) for p in pages] == [(1, "text"), (2, "ocr")]
    assert "zaniechania poboru podatku dochodowego" in pages[0].text
    assert_read(pages[1].text)


def test_garbage_text_layer_is_replaced_by_ocr() -> None:
    options = require_ocr()
    garbage = [caesar(line.lower()) for line in LINES * 3]
    data = with_text_layer(image_pdf(text_image()), garbage)
    page = parse_bytes(data, "zla_czcionka.pdf", ocr=options).pages[0]
    assert page.method == "ocr"
    assert_read(page.text)
    # The same file with OCR off keeps its (garbage) layer: the decision is the setting's.
    off = parse_bytes(data, "zla_czcionka.pdf", ocr=options.__class__(mode="off")).pages[0]
    assert off.method == "text" and caesar("ministra klimatu") in off.text


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_rotated_page_is_turned_upright(angle: int) -> None:
    options = require_ocr()
    page = parse_bytes(image_pdf(text_image(angle=angle)), "obrocony.pdf", ocr=options).pages[0]
    assert_read(page.text)


@pytest.mark.parametrize(
    ("fmt", "name", "options"),
    [("PNG", "skan.png", {}), ("JPEG", "skan.jpg", {"quality": 85}), ("TIFF", "skan.tif", {})],
)
def test_images_are_documents(fmt: str, name: str, options: dict[str, object]) -> None:
    ocr = require_ocr()
    document = parse_bytes(image_bytes(text_image(), fmt, **options), name, ocr=ocr)
    assert document.media_type.startswith("image/")
    assert [p.method for p in document.pages] == ["ocr"]
    assert_read(document.pages[0].text)


def test_multi_page_tiff_gives_one_page_per_frame() -> None:
    ocr = require_ocr()
    second = text_image(["Strona druga: protokół z posiedzenia komisji."])
    # Fax-like: bilevel frames, CCITT group 4.
    first = text_image().convert("1")
    data = image_bytes(
        first, "TIFF", save_all=True, append_images=[second.convert("1")], compression="group4"
    )
    pages = parse_bytes(data, "protokol.tiff", ocr=ocr).pages
    assert [p.number for p in pages] == [1, 2]
    assert_read(pages[0].text)
    assert "protokół z posiedzenia komisji" in pages[1].text


def test_pages_read_on_several_threads_come_back_in_order() -> None:
    options = require_ocr()
    lines = ["Pierwsza strona uchwały.", "Druga strona: uzasadnienie.", "Trzecia strona: podpisy członków."]
    data = image_pdf(*(text_image([line]) for line in lines))
    pages = parse_bytes(data, "uchwala.pdf", ocr=replace(options, threads=3)).pages
    assert [(p.number, p.text.strip()) for p in pages] == list(enumerate(lines, start=1))


def test_blank_and_noise_pages_are_reported_not_crashed() -> None:
    options = require_ocr()
    data = image_pdf(text_image(), blank_image(), noise_image())
    pages = parse_bytes(data, "z_pustymi.pdf", ocr=options).pages
    assert [p.method for p in pages] == ["ocr", "ocr", "ocr"]
    assert_read(pages[0].text)
    assert pages[1].text.strip() == "" and pages[1].confidence == 0.0
    assert len(pages[2].text.split()) <= 3  # noise: nothing, or a stray low-confidence word


def test_an_image_ocr_cannot_read_fails_with_a_reason() -> None:
    options = require_ocr()
    with pytest.raises(BadDocumentError, match=r"OCR read nothing on 1 scanned page"):
        parse_bytes(image_bytes(blank_image(), "PNG"), "pusty.png", ocr=options)


def test_corrupt_image_is_a_bad_document() -> None:
    options = require_ocr()
    data = image_bytes(text_image(), "PNG")[:200]
    with pytest.raises(BadDocumentError, match="corrupt image"):
        parse_bytes(data, "urwany.png", ocr=options)


def test_image_pixels_are_limited_before_decoding(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from ingest.limits import DocumentLimits
    from rag.errors import DocumentTooLarge

    options = OcrOptions()  # refused before any OCR: runs without Tesseract too
    data = image_bytes(text_image(), "PNG")  # 1654 x 420 pixels
    with pytest.raises(
        DocumentTooLarge,
        match=r"image is 1,654 x 420 pixels, more than 500,000 \(the limit is POLRAG_MAX_IMAGE_PIXELS",
    ):
        parse_bytes(data, "duzy.png", DocumentLimits(image_pixels=500_000), ocr=options)
    # Pillow's own decompression-bomb guard stays on, its warning range included.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300_000)
    with pytest.raises(DocumentTooLarge, match="image is over 300,000 pixels"):
        parse_bytes(data, "bomba.png", ocr=options)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # past twice the limit: Pillow's error
    with pytest.raises(DocumentTooLarge, match="POLRAG_MAX_IMAGE_PIXELS"):
        parse_bytes(data, "bomba.png", ocr=options)


# -- a page that would render to more pixels than the limit --------------------------------


def _blank_pdf(width_pt: float, height_pt: float) -> bytes:
    import io

    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    document.new_page(width_pt, height_pt)
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def test_page_over_the_pixel_limit_is_refused_before_it_is_rendered_for_ocr() -> None:
    options = require_ocr()
    # 1,000 x 1,000 pt at 200 dpi: 2,778 x 2,778 pixels, over a limit of 1,000,000 (the old
    # code rendered and read it whatever its size).
    with pytest.raises(
        DocumentTooLarge, match=r"page 1 renders for OCR to 2,778 x 2,778 pixels.*POLRAG_MAX_IMAGE_PIXELS"
    ):
        parse_bytes(_blank_pdf(1000, 1000), "plakat.pdf", DocumentLimits(image_pixels=1_000_000), ocr=options)
    # A scan within the limit is read as before.
    document = parse_bytes(
        image_pdf(text_image()), "skan.pdf", DocumentLimits(image_pixels=20_000_000), ocr=options
    )
    assert_read(document.pages[0].text)


def test_a_200_inch_page_is_refused_in_seconds_at_the_default_limit() -> None:
    import time

    options = require_ocr()
    started = time.perf_counter()
    # 14,400 pt (PDF's largest page) at 200 dpi: 40,000 x 40,000 pixels, 1.6 GB to render.
    with pytest.raises(DocumentTooLarge, match="POLRAG_MAX_IMAGE_PIXELS"):
        parse_bytes(_blank_pdf(14_400, 14_400), "bomba.pdf", ocr=options)
    assert time.perf_counter() - started < 30


def _tiff_of_frames(frames: int) -> bytes:
    """A TIFF of an 8 x 8 frame followed by ``frames`` more that repeat its directory (a few MB)."""
    import struct

    data = bytearray(image_bytes(blank_image((8, 8)), "TIFF"))
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first : first + 2])[0]
    entries = bytes(data[first + 2 : first + 2 + 12 * count])
    start, size = len(data), 2 + 12 * count + 4
    struct.pack_into("<I", data, first + 2 + 12 * count, start)
    for i in range(frames):
        following = start + size * (i + 1) if i < frames - 1 else 0
        data += struct.pack("<H", count) + entries + struct.pack("<I", following)
    return bytes(data)


def test_tiff_of_many_frames_is_refused_without_walking_them_all() -> None:
    import time

    options = require_ocr()
    data = _tiff_of_frames(30_000)  # 3.4 MB; Pillow's n_frames walked them in time quadratic in the count
    started = time.perf_counter()
    with pytest.raises(DocumentTooLarge, match=r"more than 5,000 frames.*POLRAG_MAX_DOCUMENT_PAGES"):
        parse_bytes(data, "faks.tif", ocr=options)
    assert time.perf_counter() - started < 10


def test_a_raised_pixel_limit_lets_an_image_past_pillows_own_limit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from ingest.loaders.image import load_image

    options = require_ocr()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200_000)  # Pillow's limit, scaled down
    data = image_bytes(blank_image((500, 500)), "PNG")
    # POLRAG_MAX_IMAGE_PIXELS raised past it: the image is read (the old code refused it, naming
    # the setting just raised).
    assert [page.method for page in load_image(data, DocumentLimits(image_pixels=300_000), options)] == [
        "ocr"
    ]
    with pytest.raises(DocumentTooLarge, match="POLRAG_MAX_IMAGE_PIXELS"):
        load_image(data, DocumentLimits(image_pixels=200_000), options)


def _pdf_drawing_an_image(pixels: int) -> bytes:
    """A letter page with no text that draws one ``pixels`` x ``pixels`` grey image of zeros."""
    import zlib

    squeeze = zlib.compressobj(9)
    stream = b"".join(squeeze.compress(b"\x00" * pixels) for _ in range(pixels)) + squeeze.flush()
    content = b"q 612 0 0 792 0 0 cm /Im0 Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
        % (pixels, pixels, len(stream))
        + stream
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_a_huge_image_in_a_pdf_page_is_refused_before_the_page_is_rendered() -> None:
    options = require_ocr()
    # 3,000 x 3,000 pixels in 9 kB; PDFium decodes it whole to draw it (at 45,000 x 45,000,
    # 2 MB of PDF, that took 2.1 GB). The old code rendered it, then found no text.
    data = _pdf_drawing_an_image(3000)
    with pytest.raises(
        DocumentTooLarge, match=r"page 1 holds an image of 3,000 x 3,000 pixels.*POLRAG_MAX_IMAGE_PIXELS"
    ):
        parse_bytes(data, "skan.pdf", DocumentLimits(image_pixels=5_000_000), ocr=options)
