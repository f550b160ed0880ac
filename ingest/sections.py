"""Section headings of documents that are not legal acts: numbered titles and capitalised lines.

Manuals, reports and manual pages name their sections with a line of its own: "6. Sterownik
CP-3", "2.1 Montaż", "PRZYKŁADY", "ZGŁASZANIE BŁĘDÓW". Such a line should open a chunk and
name the chunks that follow (a heading cut from its paragraph leaves both halves harder to
find), and a PDF's reflow must not glue it to the paragraph under it.

Only two shapes are taken, both cheap to tell from running text: a number-dotted title, and a
line in capitals. A short line that merely lacks a full stop (a table cell, a name) is not a
heading; a numbered line followed by another item is a list, not a heading (see
:func:`heading_at`).
"""

from __future__ import annotations

import re

# "6. Sterownik CP-3", "2.1 Montaż", "10 Konserwacja": a number, then a capitalised word.
NUMBERED = re.compile(r"^\d{1,2}(?:\.\d{1,2})*\.?\s+[A-ZĄĆĘŁŃÓŚŹŻ]")
MAX_CHARS = 80
MAX_WORDS = 10
# A title never ends a sentence or a clause: "1. Pełnomocnik wykonuje zadania." is a list item.
OPEN_END = ",;:.!?"
MIN_CAPITALS = 3  # "OPIS", not "A" or "II"
ITEM_START = re.compile(r"^(?:\d+[a-z]*[.)]\s|[a-z]\)\s|[-–•▪]\s)")


def is_section_heading(line: str) -> bool:
    """True where ``line`` (one whole line) has the shape of a section title."""
    line = line.strip()
    if not line or len(line) > MAX_CHARS or len(line.split()) > MAX_WORDS or line[-1] in OPEN_END:
        return False
    if NUMBERED.match(line):
        return True
    letters = [char for char in line if char.isalpha()]
    return len(letters) >= MIN_CAPITALS and all(char.isupper() for char in letters)


def heading_at(lines: list[str], index: int) -> bool:
    """True where ``lines[index]`` is a section title: its shape, and body text after it.

    A run of numbered lines ("1. Zgłoś awarię", "2. Poczekaj na serwis") is a list, so a
    numbered title needs a next line that is not numbered or bulleted itself.
    """
    if not is_section_heading(lines[index]):
        return False
    # By index, not through a slice: a copy of the rest of the file per title is quadratic.
    following = next((lines[at].strip() for at in range(index + 1, len(lines)) if lines[at].strip()), "")
    if not following:
        return False
    if NUMBERED.match(lines[index].strip()):
        # A numbered line going on in lower case was wrapped, and one followed by another
        # item opens a list.
        return not (following[0].islower() or NUMBERED.match(following) or ITEM_START.match(following))
    return True


def ends_on_purpose(line: str, following: str, width: int) -> bool:
    """True where a heading-shaped ``line`` of a laid-out page was not wrapped by the layout.

    A wrapped line is one the next word did not fit on; a title ends short of the measure even
    when the next line opens with a capital ("1. Zasady bezpieczeństwa" / "Montaż, …"). The
    width is the page's longest line, in characters. Letters differ in width, so a line a few
    characters short of it may still have been wrapped; a title's shape (short, numbered or
    in capitals, no closing punctuation) is what keeps that rare.
    """
    if not is_section_heading(line) or not following[:1].isupper():
        return False
    first_word = following.split()[0]
    return len(line) + 1 + len(first_word) <= width
