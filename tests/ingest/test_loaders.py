"""Loaders on real and built Polish documents, and the reasons bad files are refused."""

from __future__ import annotations

import codecs
import hashlib
import logging
from pathlib import Path

import pytest

from ingest.loaders import MEDIA_TYPES, detect_kind, load_file, parse_bytes
from ingest.loaders.pdf import ENCRYPTED, _load_with_pypdf, load_pdf
from ingest.ocr import OcrOptions
from rag.errors import BadDocumentError, UnsupportedFileType
from rag.types import Page
from tests.ingest import fixtures as fx


def lines(page_text: str) -> list[str]:
    return [line.strip() for line in page_text.splitlines() if line.strip()]


# --- PDF -----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "phrases_per_page"), fx.REAL_PDF_PHRASES)
def test_real_pdf(path: Path, phrases_per_page: list[list[str]]) -> None:
    data = path.read_bytes()
    doc = load_file(path)
    assert doc.file_name == path.name
    assert doc.media_type == "application/pdf"
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert doc.size_bytes == len(data)
    assert [p.number for p in doc.pages] == list(range(1, len(phrases_per_page) + 1))
    for page, phrases in zip(doc.pages, phrases_per_page, strict=True):
        for phrase in phrases:
            assert phrase in page.text
    # The header of page 2+ belongs to that page only.
    if len(doc.pages) == 3:
        assert "Dziennik Ustaw – 2" not in doc.pages[0].text + doc.pages[2].text


def test_pypdf_fallback_on_pdf_pdfium_cannot_open(caplog: pytest.LogCaptureFixture) -> None:
    import pypdfium2 as pdfium

    data = fx.pdf_with_dangling_root()
    with pytest.raises(pdfium.PdfiumError):  # precondition: PDFium really refuses it
        pdfium.PdfDocument(data)
    with caplog.at_level(logging.INFO, logger="ingest.loaders.pdf"):
        pages = load_pdf(data)
    assert "trying pypdf" in caplog.text
    assert [p.number for p in pages] == [1]
    assert "ROZPORZĄDZENIE" in pages[0].text
    assert "Ordynacja podatkowa" in pages[0].text
    assert parse_bytes(data, "uszkodzony.pdf").pages[0].number == 1


def test_pypdf_loader_directly_on_three_pages() -> None:
    pages = _load_with_pypdf(fx.PDF_3_PAGES.read_bytes(), pdfium_error="unused")
    assert [p.number for p in pages] == [1, 2, 3]
    assert "ROZPORZĄDZENIE" in pages[0].text
    assert "Dziennik Ustaw – 2 – Poz. 3" in pages[1].text
    assert "Pobieranie próbek odpadów" in pages[2].text


def test_pypdf_loader_reports_both_errors_for_garbage() -> None:
    with pytest.raises(BadDocumentError) as err:
        _load_with_pypdf(b"%PDF-1.7\nnie jest to PDF", pdfium_error="Data format error")
    assert err.value.reason.startswith("corrupt PDF: Data format error; pypdf: ")


def test_pypdf_loader_refuses_encrypted() -> None:
    with pytest.raises(BadDocumentError) as err:
        _load_with_pypdf(fx.encrypted_pdf(), pdfium_error="password")
    assert err.value.reason == ENCRYPTED


def test_pdf_with_only_an_owner_password_is_readable() -> None:
    doc = parse_bytes(fx.encrypted_pdf(user_password=""), "tylko-wlasciciel.pdf")
    assert "MINISTRA FINANSÓW" in doc.pages[0].text


# --- DOCX ----------------------------------------------------------------------------


def test_docx_with_page_break_has_numbered_pages() -> None:
    data = fx.build_docx(page_break=True)
    doc = parse_bytes(data, "ustawa.docx")
    assert doc.media_type == MEDIA_TYPES["docx"]
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert [p.number for p in doc.pages] == [1, 2]
    assert lines(doc.pages[0].text) == [
        "Rozdział 1. Przepisy ogólne",
        "Art. 1. Ustawa określa zasady gospodarki leśnej.",
        fx.PANGRAM,
        "Gmina | Łódź",
        "Województwo | łódzkie",
    ]
    assert lines(doc.pages[1].text) == [
        "Rozdział 2. Przepisy końcowe",
        "Art. 2. Ustawa wchodzi w życie po upływie 14 dni.",
    ]


def test_docx_pages_where_word_last_laid_them_out() -> None:
    """Word saves ``w:lastRenderedPageBreak`` at the start of the first run of each new page."""
    import docx
    from docx.oxml import OxmlElement

    document = docx.Document()
    for n in range(1, 5):
        paragraph = document.add_paragraph(f"Art. {n}. Treść artykułu {n} o lasach.")
        if n > 1:
            paragraph.runs[0]._r.insert(0, OxmlElement("w:lastRenderedPageBreak"))
    document.paragraphs[-1].runs[0]._r.addprevious(OxmlElement("w:r"))
    document.add_page_break()  # an explicit break: Word marks the next line rendered too
    after = document.add_paragraph("Art. 5. Po podziale strony.")
    after.runs[0]._r.insert(0, OxmlElement("w:lastRenderedPageBreak"))
    out = fx.BytesIO()
    document.save(out)
    doc = parse_bytes(out.getvalue(), "word.docx")
    assert [(p.number, p.text) for p in doc.pages] == [
        (1, "Art. 1. Treść artykułu 1 o lasach."),
        (2, "Art. 2. Treść artykułu 2 o lasach."),
        (3, "Art. 3. Treść artykułu 3 o lasach."),
        (4, "Art. 4. Treść artykułu 4 o lasach."),
        (5, "Art. 5. Po podziale strony."),
    ]


def test_docx_without_breaks_is_one_unnumbered_page() -> None:
    doc = parse_bytes(fx.build_docx(page_break=False), "ustawa.docx")
    assert len(doc.pages) == 1
    assert doc.pages[0].number is None
    assert lines(doc.pages[0].text)[0] == "Rozdział 1. Przepisy ogólne"
    assert lines(doc.pages[0].text)[-1] == "Art. 2. Ustawa wchodzi w życie po upływie 14 dni."
    assert fx.PANGRAM in doc.pages[0].text


# --- ODT -----------------------------------------------------------------------------


def test_odt_with_soft_page_break() -> None:
    doc = parse_bytes(fx.build_odt(), "ustawa.odt")
    assert doc.media_type == "application/vnd.oasis.opendocument.text"
    assert [p.number for p in doc.pages] == [1, 2]
    assert doc.pages[0].text.split("\n") == [
        "Rozdział 1. Przepisy ogólne",
        # text:span flattened, <text:s/> is one space, <text:s text:c="3"/> three
        "Art. 1. Ustawa określa zasady gospodarki   leśnej.",
        "1) pierwszy punkt – źródło",
        "2) drugi punkt – ślad",
        "Gmina | Łódź",
    ]
    assert doc.pages[1].text == fx.PANGRAM


def test_odt_paragraph_counts_on_the_page_where_it_starts() -> None:
    """LibreOffice writes the soft break inside the first paragraph of the new page."""
    body = (
        "<text:p>Strona pierwsza.</text:p>"
        "<text:p><text:soft-page-break/>Strona druga.</text:p>"
        "<text:p><text:span><text:soft-page-break/>Strona trzecia</text:span>, dalej.</text:p>"
        "<text:p>Zaczyna się na trzeciej<text:soft-page-break/> i kończy na czwartej.</text:p>"
        "<text:p>Strona czwarta.</text:p>"
    )
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {fx.ODT_NS}>'
        f"<office:body><office:text>{body}</office:text></office:body></office:document-content>"
    )
    doc = parse_bytes(fx.build_odt(xml), "lo.odt")
    assert [(p.number, p.text.split("\n")) for p in doc.pages] == [
        (1, ["Strona pierwsza."]),
        (2, ["Strona druga."]),
        (3, ["Strona trzecia, dalej.", "Zaczyna się na trzeciej i kończy na czwartej."]),
        (4, ["Strona czwarta."]),
    ]


def test_odt_without_soft_page_break_is_one_unnumbered_page() -> None:
    doc = parse_bytes(fx.build_odt(soft_break=False), "ustawa.odt")
    assert len(doc.pages) == 1
    assert doc.pages[0].number is None
    assert doc.pages[0].text.endswith("Gmina | Łódź\n" + fx.PANGRAM)


# --- HTML ----------------------------------------------------------------------------

HTML_LINES = [
    "Ustawa o lasach",  # the <title>
    "Rozdział 1",
    "Przepisy ogólne",
    "Art. 1. Ustawa określa zasady zachowania, ochrony i powiększania zasobów leśnych.",
    fx.PANGRAM,
]


@pytest.mark.parametrize(
    ("meta", "encoding", "name"),
    [
        ("", "utf-8", "ustawa.html"),
        ('<meta charset="windows-1250">', "cp1250", "ustawa.html"),
        (fx.HTTP_EQUIV_LATIN2, "iso-8859-2", "ustawa.htm"),
    ],
    ids=["utf8-no-meta", "meta-cp1250", "meta-http-equiv-latin2"],
)
def test_html_visible_text(meta: str, encoding: str, name: str) -> None:
    doc = parse_bytes(fx.build_html(meta=meta, encoding=encoding), name)
    assert doc.media_type == "text/html"
    assert [p.number for p in doc.pages] == [None]
    text = doc.pages[0].text
    assert lines(text)[:5] == HTML_LINES
    assert "Gmina | Łódź" in text
    for hidden in ("tajne", "skrypt", "color: red", "Włącz JavaScript", "document.write"):
        assert hidden not in text


def test_html_fragment_without_doctype() -> None:
    doc = parse_bytes("<p>Sąd Najwyższy</p><script>x()</script><p>orzeka</p>".encode(), "f.html")
    assert lines(doc.pages[0].text) == ["Sąd Najwyższy", "orzeka"]


def test_xhtml_with_xml_declaration() -> None:
    data = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        "<head><title>Ustawa</title></head><body><p>Zażółć gęślą jaźń</p></body></html>"
    ).encode()
    assert "Zażółć gęślą jaźń" in parse_bytes(data, "ustawa.xhtml").pages[0].text


def test_html_table_row_has_no_trailing_separator() -> None:
    assert lines(parse_bytes(fx.build_html(), "t.html").pages[0].text)[-1] == "Gmina | Łódź"


# --- TXT / MD ------------------------------------------------------------------------

# ASCII punctuation only, so that every one of the encodings below can hold it.
SENTENCE = "Art. 7. " + fx.PANGRAM + '\nDruga linia: "cytat" - koniec.'


ENCODED = {
    "utf-8": SENTENCE.encode("utf-8"),
    "utf-8-bom": SENTENCE.encode("utf-8-sig"),
    "cp1250": SENTENCE.encode("cp1250"),
    "iso-8859-2": SENTENCE.encode("iso-8859-2"),
    "utf-16": SENTENCE.encode("utf-16"),  # with a BOM
    "utf-16-be-bom": codecs.BOM_UTF16_BE + SENTENCE.encode("utf-16-be"),
}


@pytest.mark.parametrize("raw", list(ENCODED.values()), ids=list(ENCODED))
def test_text_encodings_round_trip(raw: bytes) -> None:
    doc = parse_bytes(raw, "ustawa.txt")
    assert doc.media_type == "text/plain"
    assert doc.pages == (Page(None, SENTENCE),)


@pytest.mark.parametrize(
    "raw",
    [SENTENCE.encode()[:-3] + "ż".encode()[:1], SENTENCE.encode().replace(b"Art.", b"Art\xff")],
    ids=["cut-mid-letter", "stray-byte"],
)
def test_utf8_with_a_broken_byte_is_read_as_utf8(raw: bytes) -> None:
    text = parse_bytes(raw, "ustawa.txt").pages[0].text
    assert fx.PANGRAM in text and text.count("\ufffd") == 1


def test_text_crlf_becomes_lf() -> None:
    doc = parse_bytes("„Pierwsza” linia –\r\nŚwięta Łódź.\r".encode("cp1250"), "a.txt")
    assert doc.pages[0].text == "„Pierwsza” linia –\nŚwięta Łódź.\n"


def test_markdown_file_and_form_feed_pages(tmp_path: Path) -> None:
    path = tmp_path / "notatka.md"
    path.write_text("# Nagłówek\n\nTreść: źdźbło\fDruga strona – łąka", encoding="utf-8")
    doc = load_file(path)
    assert doc.media_type == "text/markdown"
    assert [(p.number, p.text) for p in doc.pages] == [
        (1, "# Nagłówek\n\nTreść: źdźbło"),
        (2, "Druga strona – łąka"),
    ]


# --- bad files -----------------------------------------------------------------------


@pytest.mark.parametrize(("make", "name", "reason"), fx.BAD_FILES)
def test_bad_file_reason(make, name: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadDocumentError) as err:
        parse_bytes(make(), name, ocr=OcrOptions(mode="off"))
    assert type(err.value) is BadDocumentError
    if reason.endswith("pypdf: "):  # pypdf's own wording follows; ours is the part before
        assert err.value.reason.startswith(reason)
    else:
        assert err.value.reason == reason
    assert str(err.value) == err.value.reason


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (lambda: fx.build_zip({"[Content_Types].xml": "<x", "word/document.xml": "<w"}), "a.docx"),
        (lambda: fx.build_odt("<office:document-content><text:p>"), "a.odt"),
    ],
    ids=["docx-broken-xml", "odt-broken-xml"],
)
def test_corrupt_office_xml(data, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadDocumentError) as err:
        parse_bytes(data(), name)
    kind = name.rsplit(".", 1)[1].upper()
    assert err.value.reason.startswith(f"corrupt {kind}: ")


@pytest.mark.parametrize(
    ("data", "name", "shown"),
    [
        (lambda: fx.build_zip({"xl/workbook.xml": "<workbook/>"}), "budzet.xlsx", "'.xlsx'"),
        (lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + bytes(range(256)), "animacja.GIF", "'.gif'"),
        (lambda: b"\x00\x01\x02\x03", "README", "'(no extension)'"),
    ],
)
def test_unsupported_type_names_the_extension(data, name: str, shown: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsupportedFileType) as err:
        parse_bytes(data(), name)
    assert err.value.reason == f"unsupported file type {shown}"


def test_unknown_extension_with_known_content_is_parsed_by_content() -> None:
    assert detect_kind(fx.PDF_1_PAGE.read_bytes(), "skan.bin") == "pdf"
    assert detect_kind(fx.build_odt(), "plik") == "odt"


def test_too_large_and_unreadable(tmp_path: Path) -> None:
    size = fx.PDF_1_PAGE.stat().st_size
    with pytest.raises(BadDocumentError) as err:
        load_file(fx.PDF_1_PAGE, max_bytes=size - 1)
    assert err.value.reason.startswith("file too large: 0.2 MiB, the limit is ")
    assert len(load_file(fx.PDF_1_PAGE, max_bytes=size).pages) == 1  # the limit is inclusive
    big = tmp_path / "duzy.txt"
    big.write_bytes("Zażółć gęślą jaźń.\n".encode() * (3 * 2**20 // 28 + 1))
    with pytest.raises(BadDocumentError) as err:
        load_file(big, max_bytes=2 * 2**20)
    assert err.value.reason == "file too large: 3.0 MiB, the limit is 2 MiB"
    with pytest.raises(BadDocumentError) as err:
        load_file(tmp_path / "brak.pdf")
    assert err.value.reason == "cannot read file: No such file or directory"


def test_too_large_message_shows_a_nonzero_limit() -> None:
    with pytest.raises(BadDocumentError) as err:
        load_file(fx.PDF_1_PAGE, max_bytes=200_000)  # the file has 255 300 bytes
    limit = float(err.value.reason.rsplit("the limit is ", 1)[1].split()[0])
    assert limit > 0
