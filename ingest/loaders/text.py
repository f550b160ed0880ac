"""Plain text and Markdown with encoding detection tuned for Polish files."""

from __future__ import annotations

import codecs

from ingest.limits import DEFAULT_LIMITS, DocumentLimits
from rag.errors import BadDocumentError
from rag.types import Page

# Letters a Polish text is made of beyond ASCII; a wrong 8-bit code page turns them
# into symbols such as '±', '¶', '¦' or 'Ľ', which is how the right one is told apart.
POLISH_LETTERS = frozenset("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
COMMON_NON_ASCII = frozenset("„”“‘’–—…«»°§•·éüöäÉÜÖÄ\u00a0")
LEGACY_ENCODINGS = ("cp1250", "iso-8859-2")


def decode_text(data: bytes) -> str:
    """Decode bytes of unknown encoding: BOMs, then UTF-8, then the best Polish code page."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # UTF-8 with a stray bad byte or cut mid-letter (a truncated download) is still UTF-8:
    # its valid multi-byte letters far outnumber the broken ones. In a CP1250 or ISO-8859-2
    # file nearly every letter beyond ASCII is a broken sequence instead.
    lenient = data.decode("utf-8", errors="replace")
    broken = lenient.count("\ufffd")
    if sum(1 for char in lenient if "\x7f" < char != "\ufffd") >= 8 * broken:
        return lenient
    candidates = []
    for encoding in LEGACY_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        candidates.append((_polish_score(text), encoding, text))
    if candidates:
        score, _, text = max(candidates, key=lambda c: c[0])
        if score > 0:
            return text
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise BadDocumentError("cannot detect the text encoding (binary file?)")
    return str(best)


def _polish_score(text: str) -> float:
    good = bad = 0
    for char in text:
        if char < "\x80":
            continue
        if char in POLISH_LETTERS:
            good += 1
        elif char in COMMON_NON_ASCII:
            continue
        else:
            bad += 1 if char.isprintable() else 3
    return good - 2 * bad


def load_text(data: bytes, limits: DocumentLimits = DEFAULT_LIMITS) -> list[Page]:
    """A text file is one page without a number; form feeds split it into numbered pages."""
    if len(data) > 4 * limits.chars:  # no encoding takes more than 4 bytes a character
        limits.check_chars(len(data) // 4)
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    limits.check_chars(len(text))
    if "\f" in text:
        limits.check_pages(text.count("\f") + 1)
        return [Page(i + 1, part) for i, part in enumerate(text.split("\f"))]
    return [Page(None, text)]
