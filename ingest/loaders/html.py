"""HTML: visible text only, block structure and headings kept, scripts and styles dropped."""

from __future__ import annotations

import re

from ingest.limits import DEFAULT_LIMITS, DocumentLimits
from ingest.loaders.text import decode_text
from rag.errors import BadDocumentError
from rag.types import Page

INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd details div dl dt figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tr ul "
    "caption tbody thead tfoot".split()
)
XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.I)


def load_html(data: bytes, limits: DocumentLimits = DEFAULT_LIMITS) -> list[Page]:
    import lxml.html
    from lxml import etree

    limits.check_markup(len(data), "HTML file")
    # lxml refuses str input that carries an encoding declaration (XHTML); it is decoded already.
    text = XML_DECLARATION.sub("", _decode(data), count=1)
    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise BadDocumentError(f"cannot parse HTML: {exc}") from None
    title = (root.findtext(".//title") or "").strip()
    for element in list(root.iter(*INVISIBLE)):
        if element.getparent() is not None:
            element.drop_tree()
    for element in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        if element.getparent() is not None:
            element.drop_tree()

    parts: list[str] = []
    _walk(root.body if root.find("body") is not None else root, parts)
    body = re.sub(r"[ \t]*\n[ \t\n]*", "\n", "".join(parts)).strip()
    if title and title not in body[: len(title) + 500]:
        body = f"{title}\n{body}"
    limits.check_chars(len(body))
    return [Page(None, body)]


def _walk(element, parts: list[str]) -> None:  # type: ignore[no-untyped-def]
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag == "tr":  # a table row is one line, its cells joined like DOCX and ODT rows
        cells = []
        for cell in element.iter("td", "th"):
            cell_parts: list[str] = []
            _walk(cell, cell_parts)
            cells.append(" ".join("".join(cell_parts).split()))
        parts.append("\n" + " | ".join(cell for cell in cells if cell) + "\n")
        return
    block = tag in BLOCK_TAGS
    if block:
        parts.append("\n")
    if element.text:
        parts.append(element.text)
    for child in element:
        _walk(child, parts)
        if child.tail:
            parts.append(child.tail)
    if block:
        parts.append("\n")


def _decode(data: bytes) -> str:
    """Honour a declared charset; otherwise detect it like a text file."""
    match = CHARSET.search(data[:4096])
    if match:
        try:
            return data.decode(match.group(1).decode("ascii").lower())
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)
