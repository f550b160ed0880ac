"""Polish sentence segmentation that survives abbreviations, initials and legal numbering."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

# Candidate ends: terminal punctuation, closing quotes/brackets, then whitespace.
CANDIDATE = re.compile(r"[.!?…]+[\"”»’)\]]*(?=\s)")
NEXT_TOKEN = re.compile(r"\s+(\S)")
PREVIOUS_WORD = re.compile(r"(\S+)$")
# "Art. 5. 1." or "§ 2. 3." at the start of a line: numbering, not sentence ends.
ENUMERATION_PREFIX = re.compile(r"^[„\"]?(?:(?:Art\.|§|ust\.|pkt)\s*)?\d+[a-z]*\.(?:\s*\d+[a-z]*\.)*$")
SENTENCE_START = re.compile(r"[A-ZĄĆĘŁŃÓŚŹŻ0-9„\"“«(\[§–—-]")


@lru_cache(maxsize=1)
def abbreviations() -> tuple[frozenset[str], frozenset[str]]:
    """(always, numeric_only) abbreviations from the bundled list, without their dots."""
    always: set[str] = set()
    numeric: set[str] = set()
    text = resources.files("ingest").joinpath("data/pl_abbreviations.txt").read_text("utf-8")
    for raw in text.splitlines():
        parts = raw.split()
        if not parts or parts[0].startswith("#"):
            continue
        (numeric if "#NUMERIC_ONLY#" in parts[1:] else always).add(parts[0])
    # Multi-part forms ("Dz. U.", "m.in.") end in a listed part or contain a dot.
    always.update({"Dz", "Urz", "zm", "ok", "tj", "np", "m.in", "ww", "jw", "wz", "up"})
    return frozenset(always), frozenset(numeric - always)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``. Every line break ends a sentence.

    Cleaning keeps a line break only where structure or a sentence end is, so lines are
    hard boundaries and only the inside of a line needs judging.
    """
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        start = offset
        offset += len(line) + 1
        if not line.strip():
            continue
        for begin, end in _split_line(line):
            spans.append((start + begin, start + end))
    return spans


def _split_line(line: str) -> list[tuple[int, int]]:
    spans = []
    begin = _skip_space(line, 0)
    for match in CANDIDATE.finditer(line):
        end = match.end()
        if _is_boundary(line, begin, match.start(), end):
            spans.append((begin, end))
            begin = _skip_space(line, end)
    if begin < len(line.rstrip()):
        spans.append((begin, len(line.rstrip())))
    return spans


def _is_boundary(line: str, begin: int, punct_start: int, end: int) -> bool:
    following = NEXT_TOKEN.match(line, end)
    if following is None or not SENTENCE_START.match(following.group(1)):
        return False  # lower case or nothing after the dot: the sentence goes on
    if line[punct_start] != ".":
        return True
    word_match = PREVIOUS_WORD.search(line, begin, punct_start)
    word = word_match.group(1).lstrip('(„"[') if word_match else ""
    always, numeric_only = abbreviations()
    if word in always or word.lower() in always or _is_initial(word):
        return False
    next_char = following.group(1)
    if word in numeric_only and (next_char.isdigit() or next_char in "–—-"):
        return False  # "1997 r. – Ordynacja podatkowa": a title after the year, not a new sentence
    return not ENUMERATION_PREFIX.match(line[begin:end].strip())


def _is_initial(word: str) -> bool:
    """ "J." in "J. Kowalski": one capital letter is a name's initial, not a sentence."""
    return len(word) == 1 and word.isupper()


def _skip_space(line: str, index: int) -> int:
    while index < len(line) and line[index].isspace():
        index += 1
    return index
