"""Token counts estimated from characters (openai embedding backend without a tokenizer)."""

from __future__ import annotations

import pytest

from rag.token_estimate import EstimatedTokenCounter


def test_count_rounds_up() -> None:
    counter = EstimatedTokenCounter(3.3)
    assert counter.count(["", "a", "abc", "abcd", "x" * 33]) == [0, 1, 1, 2, 10]


def test_split_cuts_at_whitespace_within_the_bound() -> None:
    counter = EstimatedTokenCounter(4.0)
    text = "Zażółć gęślą jaźń.\nPrzedsiębiorstwo państwowe\tma siedzibę w Warszawie. " * 20
    spans = counter.split(text, 10)
    assert len(spans) > 10
    assert max(counter.count([text[a:b] for a, b in spans])) <= 10
    assert all(text[a - 1].isspace() and not text[a].isspace() for a, _ in spans[1:])
    assert all(not text[b - 1].isspace() for _, b in spans)
    assert " ".join(text[a:b] for a, b in spans).split() == text.split()  # nothing lost


def test_a_word_longer_than_the_bound_is_cut() -> None:
    counter = EstimatedTokenCounter(2.0)
    assert counter.split("a" * 25, 5) == [(0, 10), (10, 20), (20, 25)]


def test_nonpositive_ratio_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        EstimatedTokenCounter(0)
