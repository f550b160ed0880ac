"""Finding a cleaned passage among a page's own characters or OCR words, and its line boxes."""

from __future__ import annotations

from rag.passage_boxes import letters, locate, merge_lines, ocr_boxes, rotate
from rag.types import OcrWord


def test_cleaning_changes_nothing_the_match_sees() -> None:
    raw = "Dziennik Ustaw – 4 – Poz. 6\nArt. 3. Usta-\nwa wchodzi w ży\ufffecie z dniem ogłoszenia.\n"
    cleaned = "Art. 3. Ustawa wchodzi w życie z dniem ogłoszenia."
    page, where = letters(raw)
    span = locate(letters(cleaned)[0], page)
    assert span is not None
    assert (
        raw[where[span[0]] : where[span[1] - 1] + 1]
        == "Art. 3. Usta-\nwa wchodzi w ży\ufffecie z dniem ogłoszenia"
    )


def test_ocr_corrections_of_one_still_match_the_words_read() -> None:
    # The page text says "art. 1" and "§ 1" where Tesseract's words say "art. |" and "$ l".
    words = "na podstawie art. | ust. 2 oraz $ l pkt I".split()
    passage = letters("na podstawie art. 1 ust. 2 oraz § 1 pkt 1")[0]
    assert locate(passage, letters(" ".join(words))[0]) == (0, len(passage))


def test_a_passage_misread_in_the_middle_is_found_by_its_ends() -> None:
    page = letters("Początek strony. " + "a" * 60 + " Xwyraz zmieniony przez OCR " + "b" * 60 + " Koniec.")[0]
    passage = letters("a" * 60 + " wyraz zmieniony " + "b" * 60)[0]
    span = locate(passage, page)
    assert (
        span is not None
        and page[span[0] : span[1]].startswith("a" * 40)
        and page[: span[1]].endswith("b" * 40)
    )
    assert locate(letters("zupełnie inny tekst, którego tu nie ma")[0], page) is None


def test_boxes_merge_per_line_and_turn_with_the_page() -> None:
    chars = [(0.1 + i * 0.01, 0.20, 0.11 + i * 0.01, 0.22) for i in range(10)]
    chars += [(0.1 + i * 0.01, 0.25, 0.11 + i * 0.01, 0.27) for i in range(5)]
    assert merge_lines(chars) == [(0.1, 0.20, 0.2, 0.22), (0.1, 0.25, 0.15, 0.27)]
    box = (0.1, 0.2, 0.3, 0.25)
    assert rotate(box, 0) == box
    around = rotate(rotate(rotate(rotate(box, 90), 90), 90), 90)
    assert all(abs(a - b) < 1e-9 for a, b in zip(around, box, strict=True))
    assert all(abs(a - b) < 1e-9 for a, b in zip(rotate(box, 180), (0.7, 0.75, 0.9, 0.8), strict=True))
    assert all(abs(a - b) < 1e-9 for a, b in zip(rotate(box, 90), rotate(rotate(box, 270), 180), strict=True))


def test_ocr_boxes_take_the_words_of_the_passage() -> None:
    words = [
        OcrWord("Pierwszy", 90, 0.1, 0.1, 0.3, 0.12),
        OcrWord("wiersz.", 90, 0.32, 0.1, 0.45, 0.12),
        OcrWord("Drugi", 90, 0.1, 0.2, 0.2, 0.22),
        OcrWord("wiersz", 90, 0.22, 0.2, 0.35, 0.22),
        OcrWord("tutaj.", 90, 0.37, 0.2, 0.5, 0.22),
    ]
    assert ocr_boxes(words, "Drugi wiersz tutaj") == [(0.1, 0.2, 0.5, 0.22)]
    assert ocr_boxes(words, "wiersz. Drugi") == [(0.32, 0.1, 0.45, 0.12), (0.1, 0.2, 0.2, 0.22)]
