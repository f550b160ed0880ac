"""Polish lexical analysis for BM25: morfeusz2 lemmas without diacritics, stopwords.

Passages and queries go through the same :func:`analyse`, so "lasu", "lasy" and "las"
meet at the lemma "las", and "zolw" typed without diacritics meets "żółw" at "zolw".
A lemma is stored once, folded ("żółw" -> "zolw"): adding the folded form beside the lemma,
or the surface word beside either, counted one word two or three times and cost PoQuAD
lexical R@5 0.810 -> 0.735 (bench/bm25_baseline.py).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# Bump when analysis changes: collections analysed by an older version are re-analysed on open.
ANALYSIS_VERSION = 4
FOLD = str.maketrans({"ł": "l", "Ł": "L"})
# Option names ("-i", "--ignore-case") and format codes ("%N") first: manuals are asked about
# them, and read as plain words they are a stopword ("i") or a stray letter.
SIGIL_WORD = r"(?<![\w-])--?[^\W\d_][\w-]*|%[^\W\d_]+"
WORD = re.compile(SIGIL_WORD + r"|§|\d+[a-z]?(?![^\W\d_])|[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)
# Tags of words that carry no topic: prepositions, conjunctions, particles, punctuation.
STOP_TAGS = frozenset({"prep", "conj", "comp", "qub", "part", "interj", "interp", "aglt"})
STOPWORDS = frozenset(
    """a aby ale albo ani bardzo bez bo by być był była było były byli co czy dla do gdy gdzie
    i ich ile im in inne innych jak jaki jaka jakie jakich jako je jego jej jest jeszcze jeśli
    już lub kiedy kto która które którego której który których mieć może można na nad nie nim nich
    niż o od oraz po pod przez przy się są ta tak także te tego tej ten to tu tylko tym u w we
    więc wszystko z za ze że żeby""".split()
)


def fold(word: str) -> str:
    """'żółw' -> 'zolw': strip diacritics (ł has no decomposition, so it is mapped)."""
    decomposed = unicodedata.normalize("NFD", word.translate(FOLD))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


STOPWORDS = STOPWORDS | frozenset(fold(word) for word in STOPWORDS)  # "sie", "ze", "juz" typed plainly
# Folded lemmas that make a question a question ("W którym roku…", "Jak nazywa się…"): left out
# of queries, where they match relative clauses in passages, yet kept in passages. PoQuAD
# lexical R@1 on the tune half 0.596 -> 0.621 (test half 0.627 -> 0.640).
QUESTION_WORDS = frozenset("który jaki kto co ile kiedy gdzie dlaczego czemu jak czyj".split())
QUESTION_WORDS = frozenset(fold(word) for word in QUESTION_WORDS)
# Letters a user may type without their diacritic: tried back when morfeusz knows no word.
DIACRITICS = {"a": "ą", "c": "ć", "e": "ę", "l": "ł", "n": "ń", "o": "ó", "s": "ś", "z": "żź"}
MAX_RESTORATIONS = 64
# "art. 30", "§ 2", "ust. 1", "pkt 3", "rozdział 4": one term each, so a query naming a unit
# finds the passage that holds it.
LEGAL_UNITS = {
    "art": "art",
    "artykuł": "art",
    "§": "par",
    "paragraf": "par",
    "ust": "ust",
    "ustęp": "ust",
    "pkt": "pkt",
    "punkt": "pkt",
    "rozdział": "rozdz",
    "rozdz": "rozdz",
}
# A unit opening at the start of a line: the passage holds that unit, not just a citation.
UNIT_OPENING = re.compile(
    r"^[„\"]?((?:Art\.|§)\s*\d+[a-z]*|(?:Rozdział|ROZDZIAŁ|Dział|DZIAŁ)\s+[0-9IVXLC]+)", re.MULTILINE
)
NUMBER = re.compile(r"^(\d+[a-z]?|[ivxlc]+)$")
CACHE_SIZE = 400_000


class PolishAnalyzer:
    """Text -> BM25 terms. Thread-safe; morfeusz2 loads on first use."""

    def __init__(self) -> None:
        self._morfeusz = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, ...]] = {}

    def analyse(self, text: str, *, units_only: bool = False, restore: bool = False) -> list[str]:
        """Terms of ``text`` in order: folded lemmas, option names ("-i") and legal-unit terms.

        ``units_only`` leaves out the words of a legal reference ("art", "30") and keeps
        just its unit term ("art30"): what a query naming a unit should look for.
        ``restore`` puts diacritics back ("weszla" -> "weszła" -> lemma "wejść") when the
        text has no Polish letters at all: someone who types one types them all.
        """
        return [term for group in self._word_terms(text, units_only, restore) for term in group]

    def heading_terms(self, heading: str, text: str) -> str:
        """Terms for the heading column: the chunk's heading plus every unit it opens."""
        openings = " ".join(match.group(1) for match in UNIT_OPENING.finditer(text))
        return " ".join(dict.fromkeys([*self.analyse(heading), *self.unit_terms(openings)]))

    def unit_terms(self, text: str) -> list[str]:
        """The legal units a text names ("art. 30" -> ["art30"]), in order, without repeats."""
        words = [match.group(0).lower() for match in WORD.finditer(text)]
        return list(dict.fromkeys(t for i in range(len(words)) if (t := _unit_term(words, i))))

    def analyse_text(self, text: str) -> str:
        """The terms joined by spaces: what the full-text index stores."""
        return " ".join(self.analyse(text))

    def query_terms(self, text: str) -> list[str]:
        """Distinct terms of a query: :meth:`query_words` flattened."""
        return list(dict.fromkeys(term for word in self.query_words(text) for term in word))

    def query_words(self, text: str) -> list[tuple[str, ...]]:
        """A query as its distinct words, each the tuple of terms it may stand for.

        "lat" is ("lato", "rok"), "gminy" ("gmin", "gmina"): BM25 scores a word by its best
        term (see :meth:`rag.lexical_index.LexicalIndex.search`), so a passage holding the same
        ambiguous form is not counted once per reading. A legal reference is its unit term
        alone; question words ("który", "jaki", "gdzie") are left out unless nothing else is.
        """
        words = list(dict.fromkeys(w for w in self._word_terms(text, True, True) if w))
        asked = [kept for word in words if (kept := tuple(t for t in word if t not in QUESTION_WORDS))]
        return list(dict.fromkeys(asked)) or words

    def _word_terms(self, text: str, units_only: bool, restore: bool) -> list[tuple[str, ...]]:
        """The terms of each word of ``text``, in order (see :meth:`analyse`)."""
        restore = restore and fold(text) == text
        groups: list[tuple[str, ...]] = []
        words = [match.group(0).lower() for match in WORD.finditer(text)]
        skip = -1
        for index, word in enumerate(words):
            unit = _unit_term(words, index)
            if unit:
                groups.append((unit,))
                if units_only:
                    skip = index + 1
                    continue
            if index != skip:
                terms: tuple[str, ...] = ()
                if word[0] in "-%":  # "-i" is a term of its own, then the word it spells
                    terms, word = (word,), word.lstrip("-%")
                terms += self._terms(word)
                if restore:
                    terms += self._restored(word)
                groups.append(tuple(dict.fromkeys(terms)) if restore else terms)
        return groups

    def _terms(self, word: str) -> tuple[str, ...]:
        cached = self._cache.get(word)
        if cached is None:
            cached = self._analyse_word(word)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[word] = cached
        return cached

    def _analyse_word(self, word: str) -> tuple[str, ...]:
        if word in STOPWORDS:
            return ()
        if word[0].isdigit() or word == "§":
            return (word,) if word != "§" else ()
        lemmas = self._lemmas(word)
        if lemmas is None:
            return ()
        return _folded(lemmas or [word])

    def knows(self, word: str) -> bool:
        """True when morfeusz2 recognises ``word`` (function words included): a text-quality probe."""
        return self._lemmas(word) != []

    def _lemmas(self, word: str) -> list[str] | None:
        """Lemmas morfeusz knows for ``word``; [] when unknown, None for a function word."""
        with self._lock:  # one morfeusz instance is not safe to share between threads
            interpretations = self._analyser().analyse(word)
        segments: dict[tuple[int, int], list[tuple[str, str, str]]] = {}
        for start, end, (orth, lemma, tag, _names, _quals) in interpretations:
            segments.setdefault((start, end), []).append((orth, lemma, tag.split(":", 1)[0]))
        lemmas: list[str] = []
        for readings in segments.values():
            # "koło" (near / wheel), "prawie" (almost / in law): the content reading stays.
            content = [reading for reading in readings if reading[2] not in STOP_TAGS]
            if not content:
                if len(segments) == 1:
                    return None  # a function word
                continue  # the hyphen of "Bielsko-Biała", a particle inside a compound
            for orth, lemma, pos in content:
                if pos == "brev":  # "KO" -> "list_do_koryntian": the abbreviation says more
                    lemmas.append(orth.lower())
                elif pos != "ign":
                    lemmas.append(lemma.split(":", 1)[0].lower())
                elif len(segments) > 1:
                    lemmas.append(orth.lower())
        return list(dict.fromkeys(lemmas))

    def _restored(self, word: str) -> tuple[str, ...]:
        """Lemmas of the Polish words ``word`` could be with its diacritics put back."""
        if word in STOPWORDS:
            return ()
        options = [[c, *DIACRITICS.get(c, "")] for c in word]
        found: list[str] = []
        for count, letters in enumerate(itertools.product(*options)):
            if count >= MAX_RESTORATIONS:
                break
            candidate = "".join(letters)
            if candidate != word and (lemmas := self._lemmas(candidate)):
                found.extend(lemmas)
        return _folded(found)

    def _analyser(self):  # type: ignore[no-untyped-def]
        if self._morfeusz is None:
            _import_faiss_first()
            import morfeusz2

            self._morfeusz = morfeusz2.Morfeusz(generate=False, expand_tags=False)
        return self._morfeusz


def _unit_term(words: list[str], index: int) -> str | None:
    unit = LEGAL_UNITS.get(words[index])
    if unit and index + 1 < len(words) and NUMBER.match(words[index + 1]):
        return f"{unit}{words[index + 1]}"
    return None


def _import_faiss_first() -> None:
    """Both are SWIG modules; morfeusz2 imported before faiss makes Morfeusz() segfault."""
    with contextlib.suppress(ImportError):
        import faiss  # noqa: F401


def _folded(lemmas: Iterable[str]) -> tuple[str, ...]:
    """Each distinct folded lemma once: one term per reading of a word, whatever its spelling."""
    return tuple(dict.fromkeys(folded for lemma in lemmas if (folded := fold(lemma))))


@lru_cache(maxsize=1)
def default_analyzer() -> PolishAnalyzer:
    """One analyzer per process: its word cache is what makes ingest fast."""
    return PolishAnalyzer()
