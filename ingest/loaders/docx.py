"""DOCX through python-docx: paragraphs and tables in document order, headings kept.

Word stores where it last broke pages (``w:lastRenderedPageBreak``) and explicit page
breaks; when a file has them, pages are numbered, otherwise the document is one page
without a number (citations then point at the passage only).
"""

from __future__ import annotations

from io import BytesIO
from zipfile import BadZipFile

from rag.errors import BadDocumentError
from rag.types import Page

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
RENDERED_BREAK = "\f"  # a marker no w:t text holds (XML 1.0 forbids form feeds)


def load_docx(data: bytes) -> list[Page]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(BytesIO(data))
    except (BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        raise BadDocumentError(f"corrupt DOCX: {exc}") from None
    except Exception as exc:  # lxml raises its own XMLSyntaxError for broken XML parts
        raise BadDocumentError(f"corrupt DOCX: {type(exc).__name__}: {exc}") from None

    pages: list[list[str]] = [[]]
    saw_break = False
    for block in document.element.body.iterchildren():
        if block.tag == f"{W}p":
            for piece in _paragraph_pieces(block):
                # Word also marks the first line after an explicit break as rendered on a new
                # page: a rendered break on a page with no text yet is that same break.
                if piece is RENDERED_BREAK and not "".join(pages[-1]).strip():
                    continue
                if piece is None or piece is RENDERED_BREAK:
                    saw_break = True
                    pages.append([])
                elif piece:
                    pages[-1].append(piece)
            pages[-1].append("\n")
        elif block.tag == f"{W}tbl":
            for row in block.iter(f"{W}tr"):
                cells = [_text_of(cell) for cell in row.iter(f"{W}tc")]
                pages[-1].append(" | ".join(cell for cell in cells if cell) + "\n")
    texts = ["".join(parts).strip() for parts in pages]
    if not saw_break:
        return [Page(None, texts[0])]
    return [Page(number, text) for number, text in enumerate(texts, start=1)]


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
