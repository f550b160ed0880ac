"""Polish lexical analysis: lemmas, folding, stopwords, legal-unit terms."""

from __future__ import annotations

import pytest

from rag.analysis import PolishAnalyzer, fold


@pytest.fixture(scope="module")
def analyzer() -> PolishAnalyzer:
    return PolishAnalyzer()


def test_inflected_forms_meet_at_the_lemma(analyzer: PolishAnalyzer) -> None:
    assert "las" in analyzer.analyse("lasu") and "las" in analyzer.analyse("lasach")
    assert "urządzenie" in analyzer.analyse("urządzeniami")
    assert "sporządzać" in analyzer.analyse("sporządza")


def test_folded_forms_let_words_typed_without_diacritics_match(analyzer: PolishAnalyzer) -> None:
    assert fold("Żółw łąka") == "Zolw laka"
    assert "zolw" in analyzer.analyse("żółwia")
    assert "zolw" in analyzer.query_terms("zolw")


def test_stopwords_and_punctuation_are_dropped(analyzer: PolishAnalyzer) -> None:
    terms = analyzer.analyse("Na ile lat się to robi, i czy w ogóle?")
    assert not {"na", "ile", "się", "to", "i", "czy", "w", ","} & set(terms)
    assert "rok" in terms  # "lat" is a form of "rok" as well as of "lato"


def test_unknown_words_are_kept(analyzer: PolishAnalyzer) -> None:
    assert "qwertyzm" in analyzer.analyse("Qwertyzm")


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("art. 30", "art30"),
        ("Art. 5a.", "art5a"),
        ("§ 2", "par2"),
        ("ust. 1", "ust1"),
        ("pkt 3", "pkt3"),
        ("Rozdział IV", "rozdziv"),
    ],
)
def test_legal_references_become_one_term(analyzer: PolishAnalyzer, text: str, term: str) -> None:
    assert term in analyzer.analyse(text)


def test_a_query_naming_a_unit_searches_for_the_unit_alone(analyzer: PolishAnalyzer) -> None:
    assert analyzer.query_terms("art. 30") == ["art30"]
    terms = analyzer.query_terms("Co mówi § 2 ust. 1 rozporządzenia?")
    assert "par2" in terms and "ust1" in terms and "2" not in terms
    assert "rozporządzenie" in terms


def test_heading_terms_name_every_unit_a_chunk_opens(analyzer: PolishAnalyzer) -> None:
    text = "Art. 18. Plan sporządza się na 10 lat.\nArt. 19. Nadleśniczy sporządza projekt.\nzob. art. 40"
    terms = analyzer.heading_terms("Rozdział 4, Art. 18", text).split()
    assert {"rozdz4", "art18", "art19"} <= set(terms)
    assert "art40" not in terms  # cited, not opened here


def test_hyphenated_words_and_abbreviations(analyzer: PolishAnalyzer) -> None:
    assert {"polski", "niemiecki"} <= set(analyzer.analyse("polsko-niemiecki"))
    assert "biały" in analyzer.analyse("Bielsko-Biała")
    assert analyzer.analyse("KO") == ["ko"]  # not "list_do_koryntian"
