"""Chunking: token bounds, overlap, legal units as chunk starts, pages and spans."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ingest.chunking import ChunkingParams, chunk_document, embedding_texts, join_pages, section_starts
from ingest.clean import clean_pages
from ingest.loaders import load_file
from rag.types import Page


class WordCounter:
    """A tokenizer fake: one token per whitespace-separated word."""

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) for text in texts]

    def split(self, text: str, max_tokens: int) -> list[tuple[int, int]]:
        spans, words, start = [], 0, None
        position = 0
        for word in text.split():
            index = text.index(word, position)
            if start is None:
                start = index
            position = index + len(word)
            words += 1
            if words == max_tokens:
                spans.append((start, position))
                start, words = None, 0
        if start is not None:
            spans.append((start, position))
        return spans


def chunks_of(text: str, size: int = 40, overlap: int = 8, limit: int = 60, pages=None):  # type: ignore[no-untyped-def]
    pages = pages or [Page(1, text)]
    return chunk_document(
        pages, WordCounter(), ChunkingParams(size, overlap, limit), document_id="d", file_name="f.txt"
    )


def test_params_refuse_overlap_not_below_size() -> None:
    with pytest.raises(ValueError, match="overlap_tokens must be less than chunk_tokens"):
        ChunkingParams(100, 100, 512)


def test_chunks_hold_whole_sentences_within_budget_with_overlap() -> None:
    sentences = [f"Zdanie numer {i} opowiada o lesie i jego ochronie." for i in range(40)]
    chunks = chunks_of(" ".join(sentences), overlap=12)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.token_count <= 40
        assert chunk.text.startswith("Zdanie") and chunk.text.endswith(".")
    # Consecutive chunks share their boundary sentence (overlap), and together cover all.
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.char_start < before.char_end
    covered = " ".join(chunk.text for chunk in chunks)
    assert all(sentence in covered for sentence in sentences)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_overlong_sentence_is_split_never_truncated() -> None:
    words = [f"słowo{i}" for i in range(130)]
    text = " ".join(words) + "."
    chunks = chunks_of(text)
    assert all(chunk.token_count <= 40 for chunk in chunks)
    rebuilt = " ".join(" ".join(chunk.text.split()) for chunk in chunks)
    assert all(word in rebuilt for word in words)


def test_article_starts_a_chunk_and_becomes_its_heading() -> None:
    body = " ".join(f"Przepis {i} mówi o obowiązkach nadleśniczego." for i in range(6))
    plan = "Plan urządzenia lasu sporządza się na 10 lat."
    text = f"Rozdział 2\nGospodarka leśna\nArt. 7. {body}\nArt. 8. 1. {plan} {body}"
    chunks = chunks_of(text, size=60, overlap=10)
    starts = [chunk for chunk in chunks if chunk.text.startswith("Art. 8.")]
    assert len(starts) == 1, [c.text[:30] for c in chunks]
    assert starts[0].heading == "Rozdział 2, Art. 8"
    first = chunks[0]
    assert first.heading.startswith("Rozdział 2")
    # No chunk carries overlap across the article boundary.
    assert not any("Art. 7." in c.text and "Art. 8." in c.text for c in chunks)


def test_small_articles_are_packed_together() -> None:
    text = "\n".join(f"Art. {i}. Krótki przepis numer {i}." for i in range(1, 7))
    chunks = chunks_of(text, size=60)
    assert len(chunks) < 6
    assert chunks[0].heading == "Art. 1"


def test_pages_and_character_spans() -> None:
    pages = [Page(1, "Pierwsza strona. Zdanie drugie."), Page(2, "Druga strona zaczyna się tutaj.")]
    text, starts = join_pages(pages)
    assert starts == [0, len(pages[0].text) + 1]
    chunks = chunks_of("", size=5, overlap=1, limit=10, pages=pages)
    for chunk in chunks:
        assert text[chunk.char_start : chunk.char_end] == chunk.text
    assert chunks[0].first_page == 1
    assert chunks[-1].last_page == 2


def test_sentence_across_a_page_break_stays_whole() -> None:
    pages = [Page(1, "Ustawa określa zasady zachowania, ochrony"), Page(2, "i powiększania zasobów leśnych.")]
    chunks = chunks_of("", pages=pages)
    assert len(chunks) == 1
    assert chunks[0].text == "Ustawa określa zasady zachowania, ochrony i powiększania zasobów leśnych."
    assert (chunks[0].first_page, chunks[0].last_page) == (1, 2)


def test_real_act_chunks_fit_the_model(embedder, real_pdfs) -> None:  # type: ignore[no-untyped-def]
    """With the real MiniLM tokenizer, no chunk of a real act exceeds the model's window."""
    counter = embedder.token_counter()
    limit = embedder.max_passage_tokens
    params = ChunkingParams(320, 48, limit)
    for pdf in real_pdfs:
        parsed = load_file(pdf)
        pages = clean_pages(parsed.pages, reflow=True)
        chunks = chunk_document(pages, counter, params, document_id="x", file_name=pdf.name)
        assert chunks
        with_specials = embedder.model.tokenizer([c.text for c in chunks])["input_ids"]
        assert max(len(ids) for ids in with_specials) <= embedder.model.max_seq_length
        assert all(c.token_count <= limit for c in chunks)
        assert all(c.first_page is not None and c.first_page <= c.last_page for c in chunks)


MANUAL = """Instrukcja pompy ciepła. Prosimy o uważne przeczytanie instrukcji.
1. Zasady bezpieczeństwa
{safety}
2. Sterownik CP-3
{controller}
Menu użytkownika zawiera następujące pozycje:
• Statystyki: zużycie energii elektrycznej w podziale na dni;
• Urlop: obniżenie temperatury na czas nieobecności."""


def test_section_title_opens_a_chunk_and_names_the_chunks_under_it() -> None:
    safety = " ".join(f"Zasada {i} mówi, co wolno instalatorowi." for i in range(6))
    controller = " ".join(f"Przycisk {i} zmienia ustawienie sterownika." for i in range(12))
    chunks = chunks_of(MANUAL.format(safety=safety, controller=controller), size=40, overlap=8)
    titled = [chunk for chunk in chunks if chunk.text.startswith("2. Sterownik CP-3")]
    assert len(titled) == 1, [c.text[:30] for c in chunks]
    assert titled[0].heading == "2. Sterownik CP-3"
    # Chunks further into the section are named by it too; none mixes the two sections.
    after = chunks[chunks.index(titled[0]) :]
    assert len(after) > 1 and all(chunk.heading == "2. Sterownik CP-3" for chunk in after)
    assert not any("Zasada" in chunk.text and "Przycisk" in chunk.text for chunk in chunks)
    assert any(chunk.heading == "1. Zasady bezpieczeństwa" for chunk in chunks)


def test_numbered_list_and_legal_text_have_no_section_titles() -> None:
    steps = "Co zrobić po awarii:\n1. Wyłącz zasilanie\n2. Zadzwoń do serwisu\n3. Poczekaj na technika"
    assert section_starts(steps) == set()
    act = "ROZPORZĄDZENIE RADY MINISTRÓW\n§ 1. Ustanawia się Pełnomocnika.\nPREZES RADY MINISTRÓW"
    assert section_starts(act) == set()
    page = "NAZWA\n       du - szacuje użycie miejsca\nOPIS\n       Polecenie"
    assert section_starts(page) == {0, page.index("OPIS")}


def test_embedder_reads_a_chunk_under_its_heading_when_it_fits() -> None:
    safety = " ".join(f"Zasada {i} mówi, co wolno instalatorowi." for i in range(6))
    controller = " ".join(f"Przycisk {i} zmienia ustawienie sterownika." for i in range(12))
    chunks = chunks_of(MANUAL.format(safety=safety, controller=controller), size=40, overlap=8)
    texts = embedding_texts(chunks, WordCounter(), max_tokens=60)
    for chunk, text in zip(chunks, texts, strict=True):
        if chunk.heading and not chunk.text.startswith(chunk.heading):
            assert text == f"{chunk.heading}\n{chunk.text}"
        else:
            assert text == chunk.text
    assert any(text != chunk.text for chunk, text in zip(chunks, texts, strict=True))
    # No room beside the text: the heading is left out rather than the text's end cut off.
    tight = embedding_texts(chunks, WordCounter(), max_tokens=max(c.token_count for c in chunks))
    full = [chunk for chunk in chunks if chunk.token_count == max(c.token_count for c in chunks)]
    assert all(tight[chunks.index(chunk)] == chunk.text for chunk in full)


def test_section_starts_of_a_long_file_of_capitalised_lines_is_linear() -> None:
    """Each heading-shaped line looked for the next text line through a copy of the rest of the
    file: 150,000 of them (a 2 MB upload of codes or a table in capitals) took minutes."""
    import time

    lines = 150_000
    text = "\n".join(["KOD POZYCJI", ""] * (lines // 2))
    started = time.perf_counter()
    starts = section_starts(text)
    elapsed = time.perf_counter() - started
    assert len(starts) == lines // 2 - 1  # the last one has nothing after it
    assert elapsed < 3.0, f"{elapsed:.1f} s"
