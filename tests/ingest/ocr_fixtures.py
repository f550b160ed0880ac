"""Builders of scanned test documents: text drawn into images, image-only and mixed PDFs."""

from __future__ import annotations

import ctypes
import os
from io import BytesIO
from pathlib import Path

import pytest

from ingest.ocr import PACKAGES, OcrOptions, available

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
DPI = 200  # test scans are drawn and rendered at 200 dpi: clear enough, half the pixels of 300
LINES = [
    "Rozporządzenie Ministra Klimatu z dnia 24 grudnia 2019 r.",
    "w sprawie warunków uznania odpadów za zakaźne.",
    "Na podstawie art. 3 ust. 5 ustawy o odpadach",
    "zarządza się, co następuje: źródła, łączność, gęś.",
    "§ 2. Rozporządzenie wchodzi w życie z dniem ogłoszenia.",
]


def require_ocr() -> OcrOptions:
    """OCR options for tests at 200 dpi; skips (fails under POLRAG_REQUIRE_OCR=1) without Tesseract."""
    options = OcrOptions(dpi=DPI)
    if not available(options):
        message = f"Tesseract with the pol and osd models is not installed: apt-get install {PACKAGES}"
        if os.environ.get("POLRAG_REQUIRE_OCR") == "1":
            pytest.fail(f"POLRAG_REQUIRE_OCR=1 and {message}")
        pytest.skip(message)
    return options


def text_image(lines: list[str] = LINES, *, angle: int = 0):  # type: ignore[no-untyped-def]
    """A white A4-wide strip with ``lines`` in 12-point type at 200 dpi, turned by ``angle``."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 34) if Path(FONT).exists() else ImageFont.load_default(34)
    image = Image.new("L", (1654, 120 + 60 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((100, 60 + 60 * row), line, font=font, fill=0)
    return image.rotate(angle, expand=True, fillcolor=255) if angle else image


def image_bytes(image, fmt: str, **options: object) -> bytes:  # type: ignore[no-untyped-def]
    out = BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def image_pdf(*images) -> bytes:  # type: ignore[no-untyped-def]
    """An image-only PDF, one page per image, at :data:`DPI`."""
    first, *rest = [image.convert("RGB") for image in images]
    return image_bytes(first, "PDF", resolution=DPI, save_all=True, append_images=rest)


def concat_pdfs(*files: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for data in files:
        for page in PdfReader(BytesIO(data)).pages:
            writer.add_page(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def with_text_layer(pdf: bytes, lines: list[str]) -> bytes:
    """``pdf`` with ``lines`` as an invisible Helvetica text layer over its first page."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(pdf)
    page = document[0]
    font = pdfium_c.FPDFText_LoadStandardFont(document.raw, b"Helvetica")
    _, height = page.get_size()
    for row, line in enumerate(lines):
        obj = pdfium_c.FPDFPageObj_CreateTextObj(document.raw, font, 9.0)
        text = ctypes.create_string_buffer((line + "\0").encode("utf-16-le"))
        pdfium_c.FPDFText_SetText(obj, ctypes.cast(text, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
        # Invisible, like the layer a broken font encoding or a bad OCR leaves over a scan.
        pdfium_c.FPDFTextObj_SetTextRenderMode(obj, pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE)
        pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 20, height - 20 - 11 * row)
        pdfium_c.FPDFPage_InsertObject(page.raw, obj)
    pdfium_c.FPDFPage_GenerateContent(page.raw)
    out = BytesIO()
    document.save(out)
    return out.getvalue()


def caesar(text: str, shift: int = 3) -> str:
    """What a PDF with a broken font encoding extracts: every letter shifted ("Vwdwxw")."""
    return "".join(chr((ord(c) - 97 + shift) % 26 + 97) if "a" <= c <= "z" else c for c in text)


def noise_image(size: tuple[int, int] = (1200, 900)):  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image.effect_noise(size, 90).convert("L")


def blank_image(size: tuple[int, int] = (1200, 900)):  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image.new("L", size, 255)


FORM_ITEMS = [
    "1. Imię (imiona) i nazwisko uprawnionego:",
    "2. Pełniona przez uprawnionego funkcja:",
    "3. Data objęcia funkcji w podmiocie:",
    "4. Przesłanki przyznania nagrody rocznej:",
]
FORM_LABELS = ["(data)", "(nazwa i siedziba podmiotu)"]
# Rows (y of the dots' top) of the form's dotted lines, as form_image draws them.
FORM_DOTTED_ROWS = [80, 200] + [
    y + dy for y in range(330, 330 + 170 * len(FORM_ITEMS), 170) for dy in (55, 105)
]


def form_image():  # type: ignore[no-untyped-def]
    """A form at 200 dpi as the acts print them: labels under dotted fill-in lines, items over two each.

    The dots are typeset leaders' size and pitch: 1/50 inch across, 1/25 inch apart.
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 34) if Path(FONT).exists() else ImageFont.load_default(34)
    image = Image.new("L", (1654, 1100), 255)
    draw = ImageDraw.Draw(image)

    def dots(x0: int, x1: int, y: int) -> None:
        for x in range(x0, x1, 8):
            draw.ellipse((x, y, x + 3, y + 3), fill=0)

    dots(1100, 1500, FORM_DOTTED_ROWS[0])
    draw.text((1230, 95), FORM_LABELS[0], font=font, fill=0)
    dots(100, 700, FORM_DOTTED_ROWS[1])
    draw.text((160, 215), FORM_LABELS[1], font=font, fill=0)
    for index, item in enumerate(FORM_ITEMS):
        y = 330 + 170 * index
        draw.text((100, y), item, font=font, fill=0)
        dots(100, 1550, y + 55)
        dots(100, 1550, y + 105)
    return image
