"""Polish lexical analysis: lemmas, folding, stopwords, legal-unit terms."""

from __future__ import annotations

import pytest

from rag.analysis import PolishAnalyzer, fold


@pytest.fixture(scope="module")
def analyzer() -> PolishAnalyzer:
    return PolishAnalyzer()


def test_inflected_forms_meet_at_the_lemma(analyzer: PolishAnalyzer) -> None:
    assert "las" in analyzer.analyse("lasu") and "las" in analyzer.analyse("lasach")
    assert fold("urządzenie") in analyzer.analyse("urządzeniami")
    assert fold("sporządzać") in analyzer.analyse("sporządza")


def test_folded_forms_let_words_typed_without_diacritics_match(analyzer: PolishAnalyzer) -> None:
    assert fold("Żółw łąka") == "Zolw laka"
    assert "zolw" in analyzer.analyse("żółwia")
    assert "zolw" in analyzer.query_terms("zolw")
    assert "wejsc" in analyzer.query_terms("weszla")  # diacritics put back, then lemmatised


def test_a_word_counts_once_as_its_folded_lemma(analyzer: PolishAnalyzer) -> None:
    # The folded lemma beside the lemma, and the folded surface word beside both, made one word
    # two or three terms: BM25 counted it that many times (PoQuAD lexical R@5 0.810 -> 0.735).
    assert analyzer.analyse("lasu") == ["las"]
    assert analyzer.analyse("łąkami") == ["laka"]
    assert analyzer.analyse("żółwiem") == ["zolw"]
    assert analyzer.analyse("Żółw") == analyzer.analyse("zolw") == ["zolw"]


def test_question_words_are_left_out_of_queries(analyzer: PolishAnalyzer) -> None:
    terms = analyzer.query_terms("W którym roku i gdzie urodził się Mickiewicz?")
    assert terms == ["rok", "urodzic", "mickiewicz"]
    assert "ktory" in analyzer.analyse("Dom, w którym mieszkam")  # passages keep them
    assert analyzer.query_terms("Jakiego?") == ["jaki"]  # a query of question words alone keeps them


def test_stopwords_and_punctuation_are_dropped(analyzer: PolishAnalyzer) -> None:
    terms = analyzer.analyse("Na ile lat się to robi, i czy w ogóle?")
    assert not {"na", "ile", "się", "to", "i", "czy", "w", ","} & set(terms)
    assert "rok" in terms  # "lat" is a form of "rok" as well as of "lato"


def test_a_word_with_a_content_reading_is_kept(analyzer: PolishAnalyzer) -> None:
    # One function-word reading (preposition "koło", particle "prawie") dropped the word whole.
    assert analyzer.analyse("koło zębate") == ["kolo", "zebaty"]
    assert "prawo" in analyzer.analyse("w prawie cywilnym")
    assert analyzer.analyse("około lub kiedy") == []  # function words only


def test_unknown_words_are_kept(analyzer: PolishAnalyzer) -> None:
    assert "qwertyzm" in analyzer.analyse("Qwertyzm")


def test_option_names_and_format_codes_are_terms(analyzer: PolishAnalyzer) -> None:
    # Read as words, "-i" was the stopword "i" and "%N" a stray letter: a question about an
    # option of a command found nothing to match.
    terms = analyzer.analyse("grep -i lub --ignore-case; date +%N; ls -la")
    assert {"-i", "--ignore-case", "ignore", "case", "%n", "-la"} <= set(terms)
    assert "-i" in analyzer.query_terms("Co robi opcja -i?")
    assert not [t for t in analyzer.analyse("polsko-niemiecki, e-mail, 1-2") if t[0] in "-%"]
    assert {"polski", "niemiecki"} <= set(analyzer.analyse("polsko-niemiecki"))


def test_an_option_ranks_the_passage_that_names_it_first(analyzer: PolishAnalyzer) -> None:
    from rag.lexical_index import LexicalIndex

    passages = [
        "Opcja -v wypisuje wiersze, które nie pasują do wzorca.",
        "Opcja -i sprawia, że wielkość liter nie ma znaczenia.",
        "Opcja -c zlicza pasujące wiersze zamiast je wypisywać.",
    ]
    index = LexicalIndex()
    for row, text in enumerate(passages):
        index.add(row, analyzer.analyse(text))
    ids, _ = index.search(analyzer.query_terms("Do czego służy opcja -i w grep?"), 3)
    assert ids[0] == 1


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
    assert fold("rozporządzenie") in terms


def test_heading_terms_name_every_unit_a_chunk_opens(analyzer: PolishAnalyzer) -> None:
    text = "Art. 18. Plan sporządza się na 10 lat.\nArt. 19. Nadleśniczy sporządza projekt.\nzob. art. 40"
    terms = analyzer.heading_terms("Rozdział 4, Art. 18", text).split()
    assert {"rozdz4", "art18", "art19"} <= set(terms)
    assert "art40" not in terms  # cited, not opened here


def test_hyphenated_words_and_abbreviations(analyzer: PolishAnalyzer) -> None:
    assert {"polski", "niemiecki"} <= set(analyzer.analyse("polsko-niemiecki"))
    assert fold("biały") in analyzer.analyse("Bielsko-Biała")
    assert analyzer.analyse("KO") == ["ko"]  # not "list_do_koryntian"


def test_an_ambiguous_word_counts_once(analyzer: PolishAnalyzer) -> None:
    # "gminy" reads as "gmin" and "gmina": summed, the two readings outranked a passage that
    # holds every word of the question (PoQuAD lexical R@1 0.631 -> 0.662 on the tune half).
    from rag.lexical_index import LexicalIndex

    passages = [
        "Budżet gminy na ten rok.",
        "Gmina Kłodzko ogłosiła przetarg.",
        "Przetarg na budowę drogi ogłoszono w marcu.",
    ]
    index = LexicalIndex()
    for row, text in enumerate(passages):
        index.add(row, analyzer.analyse(text))
    words = analyzer.query_words("Który przetarg ogłosiły gminy?")
    assert ("gmin", "gmina") in words
    ids, scores = index.search(words, 3)
    assert ids[0] == 1
    alone, best = index.search([("gmin", "gmina")], 3), index.search(["gmin"], 3)
    assert alone[1][0] == pytest.approx(best[1][0])  # the best reading, not the sum
