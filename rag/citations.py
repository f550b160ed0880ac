"""Citations: the [n] markers of an answer, checked against the passages the model was shown.

Pure functions. A marker is kept only when it names a passage that was in the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.analysis import PolishAnalyzer
from rag.types import Citation, Hit

# [3], [1, 2], [1; 2], [1][2], [2-4], [2–4], [1, 3-5], [1 i 2]
MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*(?:[,;]|[-–—]|\bi\b)\s*\d{1,3})*)\s*\]")
NUMBER_OR_RANGE = re.compile(r"(\d{1,3})(?:\s*[-–—]\s*(\d{1,3}))?")
MAX_RANGE = 20  # "[1-300]" is not a citation of three hundred passages
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[A-ZĄĆĘŁŃÓŚŹŻ0-9„\"(])")
# Share of a sentence's words a passage must contain for the sentence to be attributed to it.
INFERENCE_OVERLAP = 0.5


@dataclass(frozen=True, slots=True)
class CitationCheck:
    citations: tuple[Citation, ...]
    dropped: tuple[int, ...]  # numbers the model wrote that point at no passage shown


def parse_markers(text: str) -> list[int]:
    """Passage numbers cited in ``text``, in the order first cited, ranges expanded."""
    numbers: list[int] = []
    for marker in MARKER.finditer(text):
        for match in NUMBER_OR_RANGE.finditer(marker.group(1)):
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else start
            if end < start or end - start >= MAX_RANGE:
                end = start
            numbers.extend(range(start, end + 1))
    return list(dict.fromkeys(numbers))


def check_citations(answer: str, passages: Sequence[Hit], analyzer: PolishAnalyzer) -> CitationCheck:
    """The answer's citations: its valid markers, or, without any marker, inferred ones.

    Markers beyond the passages shown are dropped and reported. An answer with no marker
    at all has its sentences attributed to passages by shared lemmas (``inferred``).
    """
    cited = parse_markers(answer)
    if not cited:
        return CitationCheck(infer_citations(answer, passages, analyzer), ())
    valid = [n for n in cited if 1 <= n <= len(passages)]
    dropped = tuple(n for n in cited if not 1 <= n <= len(passages))
    return CitationCheck(tuple(_citation(n, passages[n - 1]) for n in valid), dropped)


def infer_citations(answer: str, passages: Sequence[Hit], analyzer: PolishAnalyzer) -> tuple[Citation, ...]:
    """Attribute each sentence to the passage sharing most of its lemmas (at least half)."""
    passage_terms = [set(analyzer.analyse(f"{hit.heading} {hit.text}")) for hit in passages]
    found: dict[int, Citation] = {}
    for sentence in SENTENCE_END.split(answer.strip()):
        words = set(analyzer.analyse(sentence))
        if len(words) < 2:
            continue
        overlaps = [len(words & terms) / len(words) for terms in passage_terms]
        best = max(range(len(overlaps)), key=overlaps.__getitem__, default=None)
        if best is not None and overlaps[best] >= INFERENCE_OVERLAP and best + 1 not in found:
            found[best + 1] = _citation(best + 1, passages[best], inferred=True)
    return tuple(found.values())


def _citation(n: int, hit: Hit, *, inferred: bool = False) -> Citation:
    return Citation(
        n=n,
        document=hit.file_name,
        document_id=hit.document_id,
        page=hit.page,
        chunk_id=hit.chunk_id,
        text=hit.text,
        inferred=inferred,
    )
