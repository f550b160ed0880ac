"""ODT as ZIP + XML (lxml): headings, paragraphs, lists and tables in document order.

LibreOffice records its page layout as ``text:soft-page-break``; when present, pages
are numbered, otherwise the document is one page without a number.
"""

from __future__ import annotations

from ingest.limits import DEFAULT_LIMITS, DocumentLimits, TextBudget
from ingest.loaders.archive import open_archive, parse_xml, read_member
from rag.errors import BadDocumentError
from rag.types import Page

TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
BLOCKS = (f"{TEXT}p", f"{TEXT}h")
MAX_SPACE_RUN = 100  # <text:s text:c="1000000000"/> is 30 bytes of XML and would be a GB of spaces


def load_odt(data: bytes, limits: DocumentLimits = DEFAULT_LIMITS) -> list[Page]:
    from lxml import etree

    try:
        with open_archive(data, limits, "ODT") as archive:
            content = read_member(archive, "content.xml", limits.markup_bytes, "ODT")
        root = parse_xml(content, "ODT part content.xml")
    except (KeyError, etree.XMLSyntaxError) as exc:
        raise BadDocumentError(f"corrupt ODT: {exc}") from None
    del content  # the tree holds the text now; the bytes would only double the memory

    budget = TextBudget(limits)
    budget.add_page()
    pages: list[list[str]] = [[]]
    saw_break = False
    taken: set[object] = set()  # breaks already acted on (lxml keeps one proxy per node while it is held)
    for element in root.iter(*BLOCKS, f"{TEXT}soft-page-break", f"{TABLE}table-row"):
        if element.tag == f"{TEXT}soft-page-break":
            if element not in taken:
                saw_break = True
                budget.add_page()
                pages.append([])
            continue
        in_table = element.tag in BLOCKS and _inside_table(element)
        if element.tag in BLOCKS and not in_table and (leading := _leading_break(element)) is not None:
            # LibreOffice puts the break inside the first paragraph of the new page, and the
            # paragraph comes before its children here: start the page before its text.
            taken.add(leading)
            saw_break = True
            budget.add_page()
            pages.append([])
        if element.tag == f"{TABLE}table-row":
            cells = [_inline_text(p) for p in element.iter(*BLOCKS)]
            pages[-1].append(budget.add_text(" | ".join(c for c in cells if c)))
        elif not in_table:
            pages[-1].append(budget.add_text(_inline_text(element)))
    texts = ["\n".join(line for line in page if line).strip() for page in pages]
    if not saw_break:
        return [Page(None, texts[0])]
    return [Page(number, text) for number, text in enumerate(texts, start=1)]


def _inside_table(element) -> bool:  # type: ignore[no-untyped-def]
    return any(parent.tag == f"{TABLE}table-cell" for parent in element.iterancestors())


def _leading_break(element):  # type: ignore[no-untyped-def]
    """The soft page break at the very start of a paragraph (before any of its text), if any."""
    if (element.text or "").strip():
        return None
    for child in element:
        if child.tag == f"{TEXT}soft-page-break":
            return child
        if child.tag in BLOCKS:
            return None
        found = _leading_break(child)  # spans
        if found is not None:
            return found
        if "".join(child.itertext()).strip() or (child.tail or "").strip():
            return None
    return None


def _inline_text(element) -> str:  # type: ignore[no-untyped-def]
    """Text of one paragraph: spans flattened, text:s/tab/line-break honoured, notes skipped."""
    parts: list[str] = []

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        if node.text:
            parts.append(node.text)
        for child in node:
            tag = child.tag
            if tag == f"{TEXT}s":
                parts.append(" " * _space_count(child.get(f"{TEXT}c", "1")))
            elif tag == f"{TEXT}tab":
                parts.append("\t")
            elif tag == f"{TEXT}line-break":
                parts.append("\n")
            elif tag in (f"{TEXT}note", f"{TEXT}soft-page-break") or tag in BLOCKS:
                pass  # footnotes would break the sentence they sit in; nested blocks come on their own
            else:
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return "".join(parts).strip()


def _space_count(raw: str) -> int:
    try:
        return max(0, min(int(raw), MAX_SPACE_RUN))
    except ValueError:
        return 1
