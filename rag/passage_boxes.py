"""Where a passage lies on its page: boxes (fractions of the page, top-left origin), one per line.

The stored chunk text is the *cleaned* page text (dehyphenated, headers dropped, lines reflowed,
spacing normalised), so it is matched to the page's own characters (PDF text layer) or OCR words
by letters and digits alone, case-folded: everything cleaning changes is punctuation or space.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rag.pdf_drawn_text import drawn_text
from rag.types import OcrWord

if TYPE_CHECKING:
    import pypdfium2 as pdfium

Box = tuple[float, float, float, float]  # left, top, right, bottom: fractions of the page
ANCHOR = 40  # letters matched at each end of a passage when the whole does not match
MIN_LETTERS = 3  # shorter than this, a passage would match anywhere


# OCR's text is corrected where its words are not ("art. l" or "art. |" -> "art. 1"): one letter
# for all four.
CONFUSABLE = str.maketrans({"i": "l", "1": "l", "|": "l"})


def letters(text: str) -> tuple[str, list[int]]:
    """``text``'s letters and digits, NFKC and case-folded (i, l, 1 and | as one), with each
    one's index in ``text``."""
    out: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        if char.isascii() and not char.isalnum() and char != "|":
            continue  # the common case, cheaply: ASCII spaces and punctuation
        for folded in unicodedata.normalize("NFKC", char).casefold():
            if folded.isalnum() or folded == "|":
                out.append(folded)
                where.append(index)
    return "".join(out).translate(CONFUSABLE), where


def locate(passage: str, page: str) -> tuple[int, int] | None:
    """The span of ``page``'s letters (indexes into its letter string) that hold ``passage``.

    The whole passage first; failing that (OCR read a letter differently, a footnote marker),
    its first and last :data:`ANCHOR` letters, so the highlight covers what lies between them.
    """
    if len(passage) < MIN_LETTERS:
        return None
    found = page.find(passage)
    if found >= 0:
        return found, found + len(passage)
    size = min(ANCHOR, len(passage) // 2)
    if size < MIN_LETTERS:
        return None
    head = page.find(passage[:size])
    tail = page.find(passage[-size:], head + size if head >= 0 else 0)
    if head >= 0 and tail >= 0 and tail + size - head <= 2 * len(passage):
        return head, tail + size
    if head >= 0:  # the passage runs on past this page (or its end was misread)
        return head, min(len(page), head + len(passage))
    if tail >= 0:  # the passage began on the page before
        return max(0, tail + size - len(passage)), tail + size
    return None


def text_layer_boxes(
    textpage: pdfium.PdfTextPage, passage: str, crop: tuple[float, float, float, float], rotation: int = 0
) -> list[Box]:
    """Line boxes of ``passage`` on a PDF page read from its text layer, as the page is shown:
    ``crop`` is its crop box (left, bottom, right, top in points), ``rotation`` its /Rotate.

    The passage is looked for in the text drawn on the page, as ingest read it: a copy clipped
    away (a heading under another) would otherwise take the highlight to where nothing shows."""
    shown, indices = drawn_text(textpage, crop)
    page_letters, where = letters(shown)
    span = locate(letters(passage)[0], page_letters)
    x0, y0, x1, y1 = crop
    width, height = x1 - x0, y1 - y0
    if span is None or width <= 0 or height <= 0:
        return []
    boxes: list[Box] = []
    # Only drawn characters: a hidden copy inside the span (text under a clip) gets no box.
    for at in range(where[span[0]], where[span[1] - 1] + 1):
        if shown[at].isspace():
            continue
        index = indices[at]  # the character's index in the text page
        left, bottom, right, top = textpage.get_charbox(index)
        if right <= left or top <= bottom:
            continue
        boxes.append(((left - x0) / width, (y1 - top) / height, (right - x0) / width, (y1 - bottom) / height))
    # Lines are merged as the text runs, before the page's turn.
    return [rotate(line, rotation) for line in merge_lines(boxes)]


def rotate(box: Box, degrees: int) -> Box:
    """A box of the unrotated page as it shows on the page turned ``degrees`` clockwise (/Rotate)."""
    left, top, right, bottom = box
    turns = (degrees // 90) % 4
    if turns == 1:
        return (1 - bottom, left, 1 - top, right)
    if turns == 2:
        return (1 - right, 1 - bottom, 1 - left, 1 - top)
    if turns == 3:
        return (top, 1 - right, bottom, 1 - left)
    return box


def ocr_boxes(words: Sequence[OcrWord], passage: str) -> list[Box]:
    """Line boxes of ``passage`` on a page read by OCR, from the words' own boxes."""
    joined = " ".join(word.text for word in words)
    page_letters, where = letters(joined)
    span = locate(letters(passage)[0], page_letters)
    if span is None:
        return []
    starts = [0]
    for word in words[:-1]:
        starts.append(starts[-1] + len(word.text) + 1)
    first, last = where[span[0]], where[span[1] - 1]
    chosen = [
        (w.left, w.top, w.right, w.bottom)
        for w, start in zip(words, starts, strict=True)
        if start <= last and start + len(w.text) > first
    ]
    return merge_lines(chosen)


def merge_lines(boxes: Iterable[Box]) -> list[Box]:
    """Consecutive boxes on one line merged into one (a highlight per line, not per character).

    A box starts a new line when its vertical middle is outside the current line's band, or it
    lies left of the line's end (text flowing back: the next line, or another column)."""
    lines: list[list[float]] = []
    for left, top, right, bottom in boxes:
        middle = (top + bottom) / 2
        if lines:
            line = lines[-1]
            height = line[3] - line[1]
            if line[1] <= middle <= line[3] and left >= line[2] - height * 2:
                line[0], line[1] = min(line[0], left), min(line[1], top)
                line[2], line[3] = max(line[2], right), max(line[3], bottom)
                continue
        lines.append([left, top, right, bottom])
    return [(a, b, c, d) for a, b, c, d in lines]
