"""DOCX as ZIP + XML (lxml): paragraphs and tables in document order, headings kept.

Word stores where it last broke pages (``w:lastRenderedPageBreak``) and explicit page
breaks; when a file has them, pages are numbered, otherwise the document is one page
without a number (citations then point at the passage only).

Only the main document part is read (python-docx would inflate every part, images
included, whole): through :mod:`ingest.loaders.archive`, bounded like ODT.
"""

from __future__ import annotations

from ingest.limits import DEFAULT_LIMITS, DocumentLimits, TextBudget
from ingest.loaders.archive import open_archive, parse_xml, read_member
from rag.errors import BadDocumentError
from rag.types import Page

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
OFFICE_DOCUMENT = "/officeDocument"
RENDERED_BREAK = "\f"  # a marker no w:t text holds (XML 1.0 forbids form feeds)
SMALL_PART = 2**20  # package relationships: a few hundred bytes in real files


def load_docx(data: bytes, limits: DocumentLimits = DEFAULT_LIMITS) -> list[Page]:
    from lxml import etree

    try:
        with open_archive(data, limits, "DOCX") as archive:
            archive.getinfo("[Content_Types].xml")  # what makes a ZIP an OOXML package
            main = _main_part(archive, limits)
            content = read_member(archive, main, limits.markup_bytes, "DOCX")
        root = parse_xml(content, f"DOCX part {main}")
    except (KeyError, etree.XMLSyntaxError) as exc:
        raise BadDocumentError(f"corrupt DOCX: {exc}") from None
    del content  # the tree holds the text now
    body = root.find(f"{W}body")
    if body is None:
        raise BadDocumentError(f"corrupt DOCX: {main} has no w:body")

    budget = TextBudget(limits)
    budget.add_page()
    pages: list[list[str]] = [[]]
    saw_break = False
    for block in body.iterchildren():
        if block.tag == f"{W}p":
            for piece in _paragraph_pieces(block):
                # Word also marks the first line after an explicit break as rendered on a new
                # page: a rendered break on a page with no text yet is that same break.
                if piece is RENDERED_BREAK and not "".join(pages[-1]).strip():
                    continue
                if piece is None or piece is RENDERED_BREAK:
                    saw_break = True
                    budget.add_page()
                    pages.append([])
                elif piece:
                    pages[-1].append(budget.add_text(piece))
            pages[-1].append("\n")
        elif block.tag == f"{W}tbl":
            for row in block.iter(f"{W}tr"):
                cells = [_text_of(cell) for cell in row.iter(f"{W}tc")]
                pages[-1].append(budget.add_text(" | ".join(cell for cell in cells if cell) + "\n"))
    texts = ["".join(parts).strip() for parts in pages]
    if not saw_break:
        return [Page(None, texts[0])]
    return [Page(number, text) for number, text in enumerate(texts, start=1)]


def _main_part(archive, limits: DocumentLimits) -> str:  # type: ignore[no-untyped-def]
    """The main document part named by the package relationships (word/document.xml in practice)."""
    try:
        rels = parse_xml(read_member(archive, "_rels/.rels", SMALL_PART, "DOCX"), "DOCX part _rels/.rels")
    except KeyError:
        return "word/document.xml"
    for relationship in rels.iter(RELATIONSHIPS):
        if relationship.get("Type", "").endswith(OFFICE_DOCUMENT):
            return str(relationship.get("Target", "")).lstrip("/")
    return "word/document.xml"


def _paragraph_pieces(paragraph) -> list[str | None]:  # type: ignore[no-untyped-def]
    """Text runs of a paragraph: None where an explicit page break is, RENDERED_BREAK where
    Word last laid out a new page."""
    pieces: list[str | None] = []
    for node in paragraph.iter(f"{W}t", f"{W}tab", f"{W}br", f"{W}lastRenderedPageBreak"):
        if node.tag == f"{W}t":
            pieces.append(node.text or "")
        elif node.tag == f"{W}tab":
            pieces.append("\t")
        elif node.tag == f"{W}br":
            pieces.append(None if node.get(f"{W}type") == "page" else "\n")
        elif node.tag == f"{W}lastRenderedPageBreak":
            pieces.append(RENDERED_BREAK)
    return pieces


def _text_of(element) -> str:  # type: ignore[no-untyped-def]
    return " ".join("".join(t.text or "" for t in p.iter(f"{W}t")) for p in element.iter(f"{W}p")).strip()
