"""Token counts estimated from characters, for embedding servers whose tokenizer is not at hand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EstimatedTokenCounter:
    """Counts ``ceil(characters / chars_per_token)``; splits at whitespace within that bound.

    Picklable (a plain value), so parser processes get it as it is.
    """

    chars_per_token: float

    def __post_init__(self) -> None:
        if self.chars_per_token <= 0:
            raise ValueError("chars_per_token must be positive.")

    def count(self, texts: Sequence[str]) -> list[int]:
        return [math.ceil(len(text) / self.chars_per_token) for text in texts]

    def split(self, text: str, max_tokens: int) -> list[tuple[int, int]]:
        """Consecutive spans of at most ``max_tokens`` estimated tokens, cut at whitespace."""
        width = max(1, math.floor(max_tokens * self.chars_per_token))
        spans: list[tuple[int, int]] = []
        start = _skip_space(text, 0)
        while start < len(text):
            stop = min(start + width, len(text))
            if stop < len(text) and not text[stop].isspace():
                # Back off to the last space in the second half, so no word is cut in half;
                # a single word longer than the window is cut where it must be.
                for cut in range(stop, start + width // 2, -1):
                    if text[cut].isspace():
                        stop = cut
                        break
            end = stop
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                spans.append((start, end))
            start = _skip_space(text, stop)
        return spans


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index
