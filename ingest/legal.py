"""Structure of Polish legal texts: units that start a chunk and name its heading."""

from __future__ import annotations

import re

# A line that opens a legal unit: chapter, article or paragraph.
CHAPTER = re.compile(r"^(?:Rozdział|ROZDZIAŁ|DZIAŁ|Dział|Oddział|ODDZIAŁ)\s+[0-9IVXLC]+[a-z]*\b")
ARTICLE = re.compile(r"^[„\"]?Art\.\s*(\d+[a-z]*)\.")
ANNEX = re.compile(r"^(?:Załącznik|ZAŁĄCZNIK)\b")
PARAGRAPH = re.compile(r"^[„\"]?§\s*(\d+[a-z]*)\.")
# Lines that begin a new item even inside a unit: "1. ", "2) ", "a) ", bullets.
ITEM = re.compile(r"^(?:\d+[a-z]*[.)]\s|[a-z]\)\s|[-–•▪]\s)")


def starts_unit(line: str) -> bool:
    """True where a line opens a chapter, an article or a paragraph (§)."""
    return bool(CHAPTER.match(line) or ARTICLE.match(line) or PARAGRAPH.match(line))


def starts_block(line: str) -> bool:
    """True where a line opens any structural element, so the line break before it is real."""
    return starts_unit(line) or bool(ITEM.match(line))


class HeadingTracker:
    """Follows chapter > article > § through a text and names where a sentence sits."""

    def __init__(self) -> None:
        self.section = ""  # a non-legal document's section title (ingest/sections.py)
        self.chapter = ""
        self.article = ""
        self.paragraph = ""

    def update(self, sentence: str, *, section: bool = False) -> str:
        """Feed the next sentence; returns the heading it belongs to.

        ``section``: the sentence is a section title of a document that is not an act.
        """
        if section:
            self.section = " ".join(sentence.split())[:80]
            return self.section
        if ANNEX.match(sentence):  # an annex starts afresh: no article of the act above
            self.chapter = " ".join(sentence.split()[:4])[:80]
            self.article = self.paragraph = ""
        elif CHAPTER.match(sentence):
            self.chapter = " ".join(sentence.split()[:8])[:80]
            self.article = self.paragraph = ""
        elif match := ARTICLE.match(sentence):
            self.article = f"Art. {match.group(1)}"
            self.paragraph = ""
        elif match := PARAGRAPH.match(sentence):
            self.paragraph = f"§ {match.group(1)}"
        parts = (self.section, self.chapter, self.article, self.paragraph)
        return ", ".join(part for part in parts if part)
