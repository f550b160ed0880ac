"""What polrag needs of an embedder, and the one place that picks an implementation.

Two implementations: :class:`rag.embeddings.Embedder` (sentence-transformers in-process) and
:class:`rag.embedding_server.OpenAIEmbedder` (any OpenAI-compatible ``/v1/embeddings`` server).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from rag.embeddings import Prefixes
    from rag.settings import Settings


class TokenCounter(Protocol):
    """Counts tokens of the embedder's tokenizer (or an estimate of them) for chunking."""

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text, without special tokens."""
        ...

    def split(self, text: str, max_tokens: int) -> list[tuple[int, int]]:
        """Character spans of consecutive pieces of ``text``, each at most ``max_tokens``."""
        ...


class TextEmbedder(Protocol):
    """Turns passages and queries into L2-normalised float32 vectors of one fixed dimension."""

    model_name: str
    """The model's name as recorded in a collection's manifest."""
    prefixes: Prefixes
    """What is put before each query and passage on the client side."""

    def warm_up(self) -> None:
        """Load the weights or reach the server; raises ModelLoadError with what to do."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    @property
    def max_passage_tokens(self) -> int:
        """Tokens of passage text the model reads without truncating (prefix and specials off)."""
        ...

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of passages, shape ``(len(texts), dimension)``, in order."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of queries, shape ``(len(texts), dimension)``, in order."""
        ...

    def token_counter(self) -> TokenCounter:
        """A picklable counter for chunking (parser processes receive it)."""
        ...


def build_embedder(settings: Settings) -> TextEmbedder:
    """The embedder POLRAG_EMBEDDING_BACKEND names, configured from ``settings`` (not yet warm)."""
    if settings.embedding_backend == "openai":
        from rag.embedding_server import OpenAIEmbedder

        return OpenAIEmbedder.from_settings(settings)
    from rag.embeddings import Embedder

    return Embedder.from_settings(settings)
