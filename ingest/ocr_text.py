"""Fixes for Tesseract's systematic misreads of Polish legal text: pure functions on OCR'd text.

Each rule fires only where the right reading is certain from the context: a legal unit or a
date wants an Arabic number, never a letter; Polish typesetting's dash is the en dash. Each
was checked on acts other than those it was first seen in (bench/ocr.py's README section).
"""

from __future__ import annotations

import re

# The pol model reads the section sign ("§ 1.") as "$"; in Polish a dollar sign before a number
# is written "1 $" or "USD", so "$ 1" is a misread "§ 1".
SECTION_AS_DOLLAR = re.compile(r"\$(?=[ \t]*\d)")
MONTHS = "stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia"
# "1" read as "I", "l" or "|": after a unit that is always numbered in Arabic ("pkt 1", "art. 1",
# "ust. 1", "poz. 1", "§ 1", "nr 1") or before a month ("z dniem 1 stycznia").
ONE_AFTER_UNIT = re.compile(r"(?<!\w)(art\.|ust\.|pkt|poz\.|nr|§) [Il|](?=[\s,.;:)]|$)", re.M)
ONE_BEFORE_MONTH = re.compile(rf"(?<![^\s(])[Il|](?=[ \t]+(?:{MONTHS})\b)")
# Polish typesetting's dash is the en dash, spaced ("uprawniony – osobę") or in ranges; the pol
# model writes it as an em dash, which none of the 20 acts of the bench set prints.
EM_DASH = "\u2014"
EN_DASH = "\u2013"
# A list item "1)" at the start of a line read as "l)" or "|)" (not "I)": Roman items exist).
ONE_IN_LIST_ITEM = re.compile(r"(?m)^([ \t]*)[l|](?=\))")


def fix_misreads(text: str) -> str:
    """``text`` with the section sign, the digit 1 and the dash put back where Tesseract misread them."""
    text = SECTION_AS_DOLLAR.sub("§", text).replace(EM_DASH, EN_DASH)
    text = ONE_AFTER_UNIT.sub(r"\g<1> 1", text)
    text = ONE_BEFORE_MONTH.sub("1", text)
    return ONE_IN_LIST_ITEM.sub(r"\g<1>1", text)
