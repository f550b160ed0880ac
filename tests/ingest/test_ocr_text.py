"""Tesseract's systematic misreads of Polish legal text, put right only where the context is certain."""

from __future__ import annotations

import pytest

from ingest.ocr_text import fix_misreads


@pytest.mark.parametrize(
    ("read", "meant"),
    [
        ("$ 1. Rozporządzenie określa", "§ 1. Rozporządzenie określa"),
        (
            "Ustawa wchodzi w życie z dniem I stycznia 1996 r.",
            "Ustawa wchodzi w życie z dniem 1 stycznia 1996 r.",
        ),
        ("o których mowa w art. | pkt 2, 8 i 10", "o których mowa w art. 1 pkt 2, 8 i 10"),
        ("w art. 2 pkt I ustawy", "w art. 2 pkt 1 ustawy"),
        ("§ I. Rozporządzenie", "§ 1. Rozporządzenie"),
        ("l) szczegółowe zasady\n|) wzór wniosku", "1) szczegółowe zasady\n1) wzór wniosku"),
        ("2) uprawniony — osobę, o której mowa", "2) uprawniony – osobę, o której mowa"),
        ("Dziennik Ustaw —3— Poz. 14", "Dziennik Ustaw –3– Poz. 14"),
    ],
)
def test_misreads_are_put_right(read: str, meant: str) -> None:
    assert fix_misreads(read) == meant


@pytest.mark.parametrize(
    "text",
    [
        "I. Żywe mikroorganizmy",
        "Rozdział I\nPrzepisy ogólne",
        "I kwartał 2020 r.",
        "I) pierwszy",
        "kosztuje 5 $",
        "pkt Ia",
    ],
)
def test_roman_numerals_and_dollars_stay(text: str) -> None:
    assert fix_misreads(text) == text
