"""Generation backends: Bielik in-process with transformers, or any OpenAI-compatible server."""

from __future__ import annotations

from rag.generation.base import GenerationParams, Generator, TextStream
from rag.settings import Settings

__all__ = ["GenerationParams", "Generator", "TextStream", "load_generator"]


def load_generator(settings: Settings) -> Generator:
    """The configured backend, its tokenizer loaded; weights load in ``warm_up()``."""
    if settings.llm_backend == "openai":
        from rag.generation.openai_server import OpenAIGenerator

        return OpenAIGenerator.from_settings(settings)
    from rag.generation.local import TransformersGenerator

    return TransformersGenerator.from_settings(settings)
