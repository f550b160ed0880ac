"""Polish sentence splitting: abbreviations, initials, legal numbering, spans."""

from __future__ import annotations

import pytest

from ingest.clean import clean_pages
from ingest.loaders import load_file
from ingest.sentences import split_sentences
from tests.ingest import fixtures as fx


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


# Each text is one sentence that must not be cut, followed by " Dalej." that must be.
ONE_SENTENCE = [
    ("np", "Rosną tu drzewa, np. Sosna i Dąb."),
    ("tj", "Chodzi o akt, tj. Kodeks cywilny."),
    ("m.in", "Wśród nich są m.in. Sejm i Senat."),
    ("tzn", "W tym samym dniu, tzn. W poniedziałek."),
    ("ul", "Urząd mieści się przy ul. Długiej 5."),
    ("godz", "Spotkanie zaczyna się o godz. 12 w sali nr 5."),
    ("prof", "Wykład wygłosił prof. Nowak."),
    ("dr", "Wykład wygłosił dr Kowalski z Łodzi."),
    ("dr-dot", "Wykład wygłosił dr. Kowalski z Łodzi."),
    ("art", "Stosuje się art. 5 ustawy."),
    ("art-cap", "Zob. Art. 5 ustawy."),
    ("ust", "Zgodnie z ust. 2 tego przepisu."),
    ("pkt", "Zgodnie z pkt. 3 i pkt 4 tego przepisu."),
    ("poz", "Ogłoszono w Dz. U. z 2019 r. poz. 900."),
    ("Dz-U-Nr", "Ogłoszono w Dz. U. Nr 5, poz. 12."),
    ("nr", "Lokal nr. 5 przy ul. Żelaznej jest wolny."),
    ("r-digit", "W dniu 1 stycznia 2020 r. 5 osób złożyło wniosek."),
    ("ok", "Przyszło ok. 500 osób."),
    ("tys", "Koszt wynosi 5 tys. zł."),
    ("initial", "Dokument podpisał J. Kowalski."),
    ("two-initials", "Dokument podpisali J. Kowalski i Ż. Nowak."),
    ("lowercase-after-dot", "Ustawa z 2020 r. o lasach weszła w życie."),
    ("lit", "Dotyczy art. 5 § 1 pkt 2 lit. a ustawy."),
    ("prof-dr-hab", "Recenzję napisał prof. dr hab. Ź. Świątek."),
]


@pytest.mark.parametrize("sentence", [s for _, s in ONE_SENTENCE], ids=[i for i, _ in ONE_SENTENCE])
def test_abbreviations_and_initials_do_not_end_sentences(sentence: str) -> None:
    assert sentences(f"{sentence} Dalej.") == [sentence, "Dalej."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Art. 5. 1. Lasy stanowią dobro narodowe. 2. Ochrona lasów jest obowiązkiem.",
            ["Art. 5. 1. Lasy stanowią dobro narodowe.", "2. Ochrona lasów jest obowiązkiem."],
        ),
        (
            "§ 2. 3. Minister określa wzór. 4. Wzór ogłasza się.",
            ["§ 2. 3. Minister określa wzór.", "4. Wzór ogłasza się."],
        ),
        (
            "Art. 12a. Przepis uchylono. Art. 13. Ustawa wchodzi w życie.",
            ["Art. 12a. Przepis uchylono.", "Art. 13. Ustawa wchodzi w życie."],
        ),
        ("„Art. 7. 1. Wójt wydaje decyzję.", ["„Art. 7. 1. Wójt wydaje decyzję."]),
        ("Wynik wynosi 5. Następnie liczymy dalej.", ["Wynik wynosi 5.", "Następnie liczymy dalej."]),
    ],
    ids=["art-ust", "paragraph-ust", "art-letter", "quoted-amendment", "number-at-end"],
)
def test_legal_numbering(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Czy to prawda? Tak! Oczywiście.", ["Czy to prawda?", "Tak!", "Oczywiście."]),
        (
            "Ustawa weszła w życie w 2020 r. Potem ją zmieniono.",
            ["Ustawa weszła w życie w 2020 r.", "Potem ją zmieniono."],
        ),
        ("Czekał… Potem poszedł.", ["Czekał…", "Potem poszedł."]),
        ("Czekał... Potem poszedł.", ["Czekał...", "Potem poszedł."]),
        ("Naprawdę?! Żart.", ["Naprawdę?!", "Żart."]),
        ("Powiedział: „Idę do domu.” Potem wyszedł.", ["Powiedział: „Idę do domu.”", "Potem wyszedł."]),
        ("Pytał: „Dlaczego?” Nikt nie wiedział.", ["Pytał: „Dlaczego?”", "Nikt nie wiedział."]),
        ("Odpowiedział „tak”. „Dobrze” – rzekła.", ["Odpowiedział „tak”.", "„Dobrze” – rzekła."]),
        ('Napisał "Koniec." Świat milczał.', ['Napisał "Koniec."', "Świat milczał."]),
        ("(Zdanie w nawiasie.) Następne zdanie.", ["(Zdanie w nawiasie.)", "Następne zdanie."]),
        (
            "Ćma leci. Źrebię biegnie. Łoś stoi. Śnieg pada. Żaba skacze.",
            ["Ćma leci.", "Źrebię biegnie.", "Łoś stoi.", "Śnieg pada.", "Żaba skacze."],
        ),
        ("Pierwsze zdanie. drugie z małej litery.", ["Pierwsze zdanie. drugie z małej litery."]),
        ("Bez spacji.Tu nie dzielimy.", ["Bez spacji.Tu nie dzielimy."]),
        ("Zdanie bez kropki na końcu", ["Zdanie bez kropki na końcu"]),
    ],
    ids=[
        "question-exclamation",
        "r-before-capital",
        "ellipsis-char",
        "three-dots",
        "?!",
        "closing-quote",
        "question-in-quotes",
        "quote-after-dot",
        "ascii-quotes",
        "parens",
        "polish-capitals",
        "lowercase-next",
        "no-space",
        "no-final-dot",
    ],
)
def test_real_sentence_ends(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pierwsza linia bez kropki\nDruga linia", ["Pierwsza linia bez kropki", "Druga linia"]),
        ("Przykłady, np.\nWarszawa i Łódź.", ["Przykłady, np.", "Warszawa i Łódź."]),
        ("Zgodnie z art.\n5 ustawy", ["Zgodnie z art.", "5 ustawy"]),
        ("ciąg dalszy\nmałą literą", ["ciąg dalszy", "małą literą"]),
        ("A.\n\n\nB.", ["A.", "B."]),
    ],
    ids=["no-punctuation", "after-abbreviation", "before-number", "lowercase", "blank-lines"],
)
def test_every_line_break_is_a_boundary(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_spans_index_into_original_text() -> None:
    text = "  Pierwsze zdanie.   Drugie zdanie!  \n\n  Trzecie\tzdanie?  \r\nCzwarte "
    assert split_sentences(text) == [(2, 18), (21, 35), (41, 56), (60, 67)]
    assert sentences(text) == ["Pierwsze zdanie.", "Drugie zdanie!", "Trzecie\tzdanie?", "Czwarte"]


@pytest.mark.parametrize("text", ["", " ", "\n\n", " \t\n \r\n"])
def test_no_sentences_in_blank_text(text: str) -> None:
    assert split_sentences(text) == []


@pytest.mark.parametrize("path", [fx.PDF_1_PAGE, fx.PDF_3_PAGES], ids=["poz12", "poz3"])
@pytest.mark.parametrize("reflow", [False, True], ids=["lines", "reflowed"])
def test_spans_cover_real_text(path, reflow: bool) -> None:  # type: ignore[no-untyped-def]
    for page in clean_pages(load_file(path).pages, reflow=reflow):
        text = page.text
        spans = split_sentences(text)
        assert spans, "every page has sentences"
        previous_end = 0
        for a, b in spans:
            assert previous_end <= a < b <= len(text)
            piece = text[a:b]
            assert piece == piece.strip() and "\n" not in piece
            assert text[previous_end:a].strip() == ""  # nothing but whitespace left out
            previous_end = b
        assert text[previous_end:].strip() == ""


def test_real_legal_text_sentences() -> None:
    text = clean_pages(load_file(fx.PDF_3_PAGES).pages, reflow=True)[0].text
    found = sentences(text)
    assert "§ 1. 1. Warunkiem uznania odpadów za posiadające właściwości zakaźne jest:" in found
    assert any(
        s.startswith("2. Mikroorganizmy, o których mowa w ust. 1 pkt 1, metody")
        and s.endswith("określa załącznik do rozporządzenia.")
        for s in found
    )


def test_act_title_after_year_is_not_split() -> None:
    sentence = "Na podstawie ustawy z dnia 29 sierpnia 1997 r. – Ordynacja podatkowa zarządza się."
    assert sentences(f"{sentence} Dalej.") == [sentence, "Dalej."]


def test_signature_wz_is_not_split() -> None:
    assert sentences("Minister Finansów: wz. L. Skiba") == ["Minister Finansów: wz. L. Skiba"]
