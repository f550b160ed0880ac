"""Citation markers: parsing, validation against the prompt's passages, inference without markers."""

from __future__ import annotations

import pytest

from rag.analysis import default_analyzer
from rag.citations import check_citations, parse_markers
from rag.types import Hit

PASSAGES = [
    Hit(
        11,
        "d1",
        "ustawa_o_lasach.pdf",
        12,
        12,
        "Plan urządzenia lasu zatwierdza minister właściwy do spraw środowiska w terminie trzydziestu dni.",
        0.9,
    ),
    Hit(
        22,
        "d1",
        "ustawa_o_lasach.pdf",
        14,
        15,
        "Nadleśniczy sporządza roczny plan finansowo-gospodarczy nadleśnictwa.",
        0.8,
    ),
    Hit(
        33,
        "d2",
        "kodeks_pracy.docx",
        None,
        None,
        "Pracownikowi przysługuje urlop wypoczynkowy w wymiarze dwudziestu lub dwudziestu sześciu dni.",
        0.7,
    ),
]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Zatwierdza minister [1].", [1]),
        ("Tak [1, 2] i tak [3].", [1, 2, 3]),
        ("Oba [2][1].", [2, 1]),
        ("Zakres [1-3].", [1, 2, 3]),
        ("Zakres [2–3] i [1; 2].", [2, 3, 1]),
        ("Wyliczenie [1 i 3].", [1, 3]),
        ("Powtórki [2] i [2].", [2]),
        ("Nie cytat: art. 5 [ust. 2] ani [a] ani [].", []),
        ("Absurdalny zakres [1-500].", [1]),
    ],
)
def test_parses_marker_forms_in_order_first_cited(text: str, numbers: list[int]) -> None:
    assert parse_markers(text) == numbers


def test_valid_markers_become_citations_with_source_fields() -> None:
    check = check_citations("Plan zatwierdza minister [1], a nadleśniczy [2].", PASSAGES, default_analyzer())
    assert [c.n for c in check.citations] == [1, 2]
    first = check.citations[0].to_json()
    assert first == {
        "n": 1,
        "document": "ustawa_o_lasach.pdf",
        "document_id": "d1",
        "page": 12,
        "chunk_id": 11,
        "text": PASSAGES[0].text,
        "inferred": False,
    }
    assert check.dropped == ()


def test_markers_outside_the_prompt_are_dropped_and_reported() -> None:
    check = check_citations("Minister [1]; urlop [7], coś [0] i [3].", PASSAGES, default_analyzer())
    assert [c.n for c in check.citations] == [1, 3]
    assert check.dropped == (7, 0)


def test_only_invalid_markers_give_no_citations() -> None:
    check = check_citations("Nie wiadomo [9].", PASSAGES, default_analyzer())
    assert check.citations == () and check.dropped == (9,)


def test_without_markers_sentences_are_attributed_by_lemmas() -> None:
    answer = (
        "Plan urządzenia lasu zatwierdzał minister do spraw środowiska. "
        "Urlop wypoczynkowy pracownika wynosi dwadzieścia sześć dni. To wszystko."
    )
    check = check_citations(answer, PASSAGES, default_analyzer())
    assert [(c.n, c.inferred) for c in check.citations] == [(1, True), (3, True)]


def test_unrelated_answer_without_markers_cites_nothing() -> None:
    check = check_citations("Stolicą Australii jest Canberra.", PASSAGES, default_analyzer())
    assert check.citations == ()
