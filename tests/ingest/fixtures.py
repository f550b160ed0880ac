"""Builders of test documents (PDF variants, DOCX, ODT, HTML, ZIP) kept out of the tests."""

from __future__ import annotations

import re
import zipfile
from io import BytesIO
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
PDF_1_PAGE = DATA / "DU_2020_poz12.pdf"
PDF_3_PAGES = DATA / "DU_2020_poz3.pdf"

# Every Polish letter with a diacritic, lower and upper case, in one sentence.
PANGRAM = "Zażółć gęślą jaźń: ą ć ę ł ń ó ś ź ż Ą Ć Ę Ł Ń Ó Ś Ź Ż."

ODT_MIMETYPE = "application/vnd.oasis.opendocument.text"
ODT_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'office:version="1.2"'
)


# --- PDF ---------------------------------------------------------------------------

# (file, [phrases on page 1, phrases on page 2, ...]) as PDFium extracts them.
REAL_PDF_PHRASES = [
    (
        PDF_1_PAGE,
        [
            [
                "ROZPORZĄDZENIE",
                "MINISTRA FINANSÓW",
                "zaniechania poboru podatku dochodowego",
                "Rozporządzenie wchodzi w życie po upływie 14 dni od dnia ogłoszenia.",
                "Minister Finansów: wz. L. Skiba",
            ]
        ],
    ),
    (
        PDF_3_PAGES,
        [
            ["MINISTRA KLIMATU", "właściwości zakaźne", "Minister Klimatu: M. Kurtyka"],
            ["Dziennik Ustaw – 2 – Poz. 3", "ŻYWE MIKROORGANIZMY", "Salmonella sp."],
            [
                "Dziennik Ustaw – 3 – Poz. 3",
                "Pobieranie próbek odpadów",
                "mikrobiologicznych badań środowiskowych.",
            ],
        ],
    ),
]


def pdf_with_dangling_root() -> bytes:
    """A real PDF whose trailer /Root points at a missing object.

    PDFium refuses it ("Data format error"); pypdf recovers by searching for the
    /Catalog object, so it exercises the pypdf fallback on genuinely damaged input.
    """
    return re.sub(rb"/Root \d+ 0 R", b"/Root 999 0 R", PDF_1_PAGE.read_bytes())


def encrypted_pdf(user_password: str = "secret") -> bytes:
    """The first page of a real Dziennik Ustaw PDF, encrypted with pypdf."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.add_page(PdfReader(PDF_1_PAGE).pages[0])
    writer.encrypt(user_password, "owner-secret")
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def blank_page_pdf() -> bytes:
    """A one-page PDF with nothing on it (no text layer)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def image_only_pdf() -> bytes:
    """A 'scan': one page holding just a bitmap image, made with pypdfium2."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument.new()
    page = document.new_page(200, 200)
    image = pdfium.PdfImage.new(document)
    bitmap = pdfium.PdfBitmap.new_native(40, 40, pdfium_c.FPDFBitmap_BGR)
    bitmap.fill_rect((120, 30, 200, 255), 0, 0, 40, 40)
    image.set_bitmap(bitmap)
    image.set_matrix(pdfium.PdfMatrix().scale(100, 100).translate(50, 50))
    page.insert_obj(image)
    page.gen_content()
    out = BytesIO()
    document.save(out)
    return out.getvalue()


# --- DOCX ----------------------------------------------------------------------------


def build_docx(*, page_break: bool) -> bytes:
    """A DOCX with a heading, Polish paragraphs and a table; optionally a page break."""
    import docx

    document = docx.Document()
    document.add_heading("Rozdział 1. Przepisy ogólne", level=1)
    document.add_paragraph("Art. 1. Ustawa określa zasady gospodarki leśnej.")
    document.add_paragraph(PANGRAM)
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Gmina", "Łódź"), ("Województwo", "łódzkie")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    if page_break:
        document.add_page_break()
    document.add_heading("Rozdział 2. Przepisy końcowe", level=1)
    document.add_paragraph("Art. 2. Ustawa wchodzi w życie po upływie 14 dni.")
    out = BytesIO()
    document.save(out)
    return out.getvalue()


# --- ODT -----------------------------------------------------------------------------

ODT_BODY = """
<text:h text:outline-level="1">Rozdział 1. Przepisy ogólne</text:h>
<text:p>Art. 1. Ustawa <text:span>określa</text:span> zasady<text:s/>gospodarki\
<text:s text:c="3"/>leśnej.</text:p>
<text:list><text:list-item><text:p>1) pierwszy punkt – źródło</text:p></text:list-item>
<text:list-item><text:p>2) drugi punkt – ślad</text:p></text:list-item></text:list>
<table:table><table:table-row>
<table:table-cell><text:p>Gmina</text:p></table:table-cell>
<table:table-cell><text:p>Łódź</text:p></table:table-cell>
</table:table-row></table:table>
{break_}<text:p>{pangram}</text:p>
"""


def odt_content_xml(*, soft_break: bool = True) -> str:
    body = ODT_BODY.format(break_="<text:soft-page-break/>" if soft_break else "", pangram=PANGRAM)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {ODT_NS}>'
        f"<office:body><office:text>{body}</office:text></office:body>"
        "</office:document-content>"
    )


def build_odt(content_xml: str | bytes | None = None, *, soft_break: bool = True) -> bytes:
    """An ODT zip: ``mimetype`` first and stored, then ``content.xml`` (omitted if None)."""
    if content_xml is None:
        content_xml = odt_content_xml(soft_break=soft_break)
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ODT_MIMETYPE, compress_type=zipfile.ZIP_STORED)
        if content_xml != b"":
            archive.writestr("content.xml", content_xml, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def build_zip(files: dict[str, bytes | str]) -> bytes:
    """A plain ZIP archive with the given members."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


# --- HTML ----------------------------------------------------------------------------

HTML_PAGE = """<!DOCTYPE html>
<html><head>{meta}<title>Ustawa o lasach</title>
<style>body {{ color: red; }} .ukryty {{}}</style>
<script>var tajne = "skrypt nie jest treścią";</script>
</head><body>
<noscript>Włącz JavaScript</noscript>
<h1>Rozdział 1</h1><h2>Przepisy ogólne</h2>
<p>Art. 1. Ustawa określa zasady <b>zachowania</b>, ochrony i powiększania zasobów leśnych.</p>
<p>{pangram}</p>
<table><tr><td>Gmina</td><td>Łódź</td></tr></table>
<script>document.write("też nie");</script>
</body></html>"""


HTTP_EQUIV_LATIN2 = '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-2">'


def build_html(*, meta: str = "", encoding: str = "utf-8") -> bytes:
    return HTML_PAGE.format(meta=meta, pangram=PANGRAM).encode(encoding)


# --- bad files: (build the bytes, file name, the exact BadDocumentError.reason) ---------

ENCRYPTED_REASON = "encrypted PDF (password-protected); remove the password and try again"
CORRUPT_PDF = "corrupt PDF: Failed to load document (PDFium: Data format error); pypdf: "
# With OCR off (the bad-file cases run without Tesseract); OCR of blank pages: tests/ingest/test_ocr.py
SCANNED = "no text layer (scanned?) and OCR is off (POLRAG_OCR=off)"


def _misnamed(kind: str, looks_like: str) -> str:
    return f"content is not {kind} (looks like {looks_like}); the file is corrupt or misnamed"


def _case(id_: str, name: str, make, reason: str):  # type: ignore[no-untyped-def]
    import pytest

    return pytest.param(make, name, reason, id=id_)


def plain_zip() -> bytes:
    return build_zip({"a.txt": "x"})


def random_bytes() -> bytes:
    return bytes(range(256)) * 4


NO_CONTENT_TYPES = "corrupt DOCX: \"There is no item named '[Content_Types].xml' in the archive\""
NO_CONTENT_XML = "corrupt ODT: \"There is no item named 'content.xml' in the archive\""
SCRIPT_ONLY_HTML = b"<html><body><script>x()</script></body></html>"

BAD_FILES = [
    _case("empty", "pusty.pdf", lambda: b"", "empty file"),
    _case("whitespace-only", "pusty.txt", lambda: b" \r\n\t\n", "empty file"),
    _case("truncated-pdf", "obciety.pdf", lambda: PDF_3_PAGES.read_bytes()[:2000], CORRUPT_PDF),
    _case("garbage-pdf", "smieci.pdf", lambda: b"%PDF-1.7\n" + random_bytes(), CORRUPT_PDF),
    _case("encrypted-pdf", "haslo.pdf", encrypted_pdf, ENCRYPTED_REASON),
    _case("blank-page-pdf", "pusta-strona.pdf", blank_page_pdf, SCANNED),
    _case("image-only-pdf", "skan.pdf", image_only_pdf, SCANNED),
    _case("zip-named-pdf", "dokument.pdf", plain_zip, _misnamed("PDF", "a ZIP archive")),
    _case("pdf-named-docx", "umowa.docx", PDF_1_PAGE.read_bytes, _misnamed("DOCX", "PDF")),
    _case("plain-zip-named-docx", "umowa.docx", plain_zip, _misnamed("DOCX", "a ZIP archive")),
    _case("random-bytes-named-docx", "umowa.docx", random_bytes, _misnamed("DOCX", "binary data")),
    _case("odt-named-docx", "umowa.docx", build_odt, _misnamed("DOCX", "ODT")),
    _case("binary-named-txt", "notatka.txt", random_bytes, _misnamed("TXT", "binary data")),
    _case("text-named-odt", "umowa.odt", "Zażółć gęślą jaźń".encode, _misnamed("ODT", "plain text")),
    _case(
        "docx-without-content-types",
        "umowa.docx",
        lambda: build_zip({"word/document.xml": "<w:document/>"}),
        NO_CONTENT_TYPES,
    ),
    _case("odt-without-content-xml", "umowa.odt", lambda: build_odt(b""), NO_CONTENT_XML),
    _case("html-without-text", "pusta.html", lambda: SCRIPT_ONLY_HTML, "no text found in the document"),
]


def pdf_drawing(
    content: str,
    *,
    crop_box: tuple[int, int, int, int] | None = None,
    form: str | None = None,
    form_matrix: str = "1 0 0 1 0 0",
) -> bytes:
    """A one-page A4 PDF whose content stream is ``content`` (Helvetica as /F1), written by hand:
    clip paths and crop boxes exactly as a test needs them. ``form``: the content of a form
    XObject /X1 (3000 points square, its /Matrix ``form_matrix``) that ``content`` may draw."""
    stream = content.encode("latin-1")
    crop = f"/CropBox [{' '.join(map(str, crop_box))}]" if crop_box else ""
    xobject = "/XObject << /X1 6 0 R >>" if form is not None else ""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] {crop} "
        f"/Resources << /Font << /F1 4 0 R >> {xobject} >> /Contents 5 0 R >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    if form is not None:
        body = form.encode("latin-1")
        objects.append(
            f"<< /Type /XObject /Subtype /Form /BBox [0 0 3000 3000] /Matrix [{form_matrix}] "
            f"/Resources << /Font << /F1 4 0 R >> >> /Length {len(body)} >>\nstream\n".encode()
            + body
            + b"\nendstream"
        )
    out = BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def text_at(x: int, y: int, text: str, size: int = 14) -> str:
    """A content-stream line drawing ``text`` at (x, y) in points."""
    return f"BT /F1 {size} Tf {x} {y} Td ({text}) Tj ET\n"
