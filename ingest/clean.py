"""Polish text cleaning: pure functions from raw page text to clean page text."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from ingest.legal import starts_block, starts_unit
from ingest.sections import ends_on_purpose
from rag.control_tokens import neutralise
from rag.types import Page

# PDFium reports a typesetter's soft hyphen as U+FFFE and drops the line break after it.
SOFT_HYPHENS = re.compile(r"[\ufffe\u00ad][ \t]*\n?[ \t]*")
# "flotacyjno-\n-sedymentacyjne": Polish typesetting repeats the hyphen of a compound.
REPEATED_HYPHEN = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*-(?=[^\W\d_])")
# "usta-\nwy" -> "ustawy"; an upper-case continuation ("Celno-\nSkarbowej") is a real compound.
LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[a-ząćęłńóśźż])")
COMPOUND_HYPHEN = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[A-ZĄĆĘŁŃÓŚŹŻ])")
# Fill-in lines of forms ("........", "_____"): one ellipsis says the same in one token.
LEADERS = re.compile(r"(?:[.…_]\s?){4,}")
SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\x00-\x08\x0b\x0c\x0e-\x1f]")
DIGITS = re.compile(r"\d+")
# Page furniture even when a document is too short for repetition to show it.
PAGE_NUMBER_LINE = re.compile(
    r"^(?:(?:strona|str\.|s\.)\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:z|/)\s*\d{1,4})?$", re.I
)
GAZETTE_HEADER = re.compile(r"^(?:dziennik ustaw|monitor polski)\s*[-–—]\s*\d+\s*[-–—]\s*poz\.\s*\d+$", re.I)
EDGE_LINES = 3


def clean_pages(pages: Sequence[Page], *, reflow: bool = False) -> list[Page]:
    """Clean every page and drop running headers/footers repeated across pages.

    ``reflow`` joins lines wrapped by the layout (PDF) into paragraphs, keeping a break
    only where a sentence ends or a legal unit or list item begins.
    """
    texts = [_normalise(page.text) for page in pages]
    texts = _strip_running_lines(texts)
    finished = [_finish(text) for text in texts]
    if reflow:
        finished = [reflow_lines(text) for text in finished]
    # Last, once the text is final: joining hyphenated lines can complete a control token,
    # and the invisible-character pass would strip the break that neutralising inserts.
    finished = [neutralise(text) for text in finished]
    return [replace(page, text=text) for page, text in zip(pages, finished, strict=True)]


def reflow_lines(text: str) -> str:
    """Join layout-wrapped lines; a line break survives before structure or after a sentence."""
    out: list[str] = []
    lines = text.split("\n")
    width = max((len(line) for line in lines), default=0)
    # ``single``: the last line so far is one line of the layout, not a join of several. A
    # section title the layout did not wrap stays apart from the paragraph under it.
    single = False
    for line in lines:
        if (
            not out
            or not line
            or not out[-1]
            or starts_block(line)
            or (out[-1][-1] in ".!?:;" and not line[0].islower())
            or (single and ends_on_purpose(out[-1], line, width))
        ):
            out.append(line)
            single = True
        else:
            out[-1] = f"{out[-1]} {line}"
            single = False
    return "\n".join(out)


def clean_text(text: str) -> str:
    """Clean one stretch of text (no header detection: that needs several pages)."""
    return neutralise(_finish(_normalise(text)))


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = SOFT_HYPHENS.sub("", text)
    return INVISIBLE.sub("", text)


def _finish(text: str) -> str:
    text = REPEATED_HYPHEN.sub("-", text)
    text = LINE_END_HYPHEN.sub("", text)
    text = COMPOUND_HYPHEN.sub("-", text)
    text = LEADERS.sub(" … ", text)
    lines = [SPACES.sub(" ", line).strip() for line in text.split("\n")]
    # Keep line structure (legal units start on their own line), collapse blank runs.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _key(line: str) -> str:
    return DIGITS.sub("#", SPACES.sub(" ", line).strip().lower())


def _strip_running_lines(texts: list[str]) -> list[str]:
    page_lines = [text.split("\n") for text in texts]
    repeated: set[str] = set()
    if len(texts) >= 3:
        counts: Counter[str] = Counter()
        for lines in page_lines:
            # A legal unit at the top of many pages is content, never a running header.
            edge_lines = [lines[i].strip() for i in _edge(lines)]
            counts.update({_key(line) for line in edge_lines if not starts_unit(line)})
        threshold = max(2, math.ceil(0.5 * len(texts)))
        repeated = {key for key, count in counts.items() if count >= threshold}
    cleaned = []
    for lines in page_lines:
        edge_positions = set(_edge(lines))
        kept = [
            line
            for i, line in enumerate(lines)
            if not (i in edge_positions and _is_furniture(line, repeated))
        ]
        cleaned.append("\n".join(kept))
    return cleaned


def _edge(lines: list[str]) -> list[int]:
    """Positions of the first and last few non-blank lines, where headers and footers sit."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    return content[:EDGE_LINES] + content[-EDGE_LINES:]


def _is_furniture(line: str, repeated: set[str]) -> bool:
    stripped = SPACES.sub(" ", line).strip()
    if not stripped:
        return False
    if _key(stripped) in repeated:
        return True
    return bool(PAGE_NUMBER_LINE.match(stripped) or GAZETTE_HEADER.match(stripped))
