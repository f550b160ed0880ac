"""What every generation backend offers: render and count a chat, stream an answer."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rag.control_tokens import neutralise
from rag.prompt import Message
from rag.types import Usage


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0: greedy, what grounded answers want
    stream: bool = True  # False: a server may send the answer in one response


class TextStream:
    """The pieces of an answer as the model writes them.

    ``usage`` and ``finish_reason`` ("stop": the model ended its answer, "length": it ran
    out of new tokens) are set once the stream is exhausted; ``cancel()`` stops generation
    early (a client that went away should not keep the model busy).
    """

    def __init__(self, pieces: Callable[[TextStream], Iterator[str]]) -> None:
        self.usage = Usage()
        self.finish_reason = "stop"
        self.cancelled = threading.Event()
        self._pieces = pieces(self)

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    def cancel(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        """Cancel and release the backend now (its thread, its HTTP stream)."""
        self.cancel()
        # Being read in another thread right now (ValueError): the cancel flag stops it.
        with contextlib.suppress(ValueError):
            self._pieces.close()  # type: ignore[attr-defined]

    def text(self) -> str:
        """Read the whole stream and return the answer."""
        return "".join(self)


def neutralise_messages(messages: list[Message], tokens: Sequence[str]) -> list[Message]:
    """``messages`` with the model's control tokens broken in every content.

    Every backend renders and sends only what passes through here: passages, their file
    names and headings, the question and the history all come from documents or users, and
    only the chat template may open or close a turn.
    """
    return [{"role": m["role"], "content": neutralise(m["content"], tokens)} for m in messages]


def render_chat(tokenizer: Any, messages: list[Message]) -> str:
    """The prompt exactly as the model reads it: its own chat template, open for its answer."""
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of text; no special tokens added (a rendered template already holds its <s>)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


class Generator(Protocol):
    """A chat model behind one of the backends (in-process transformers, OpenAI-compatible server)."""

    @property
    def model_name(self) -> str:
        """The model's hub id, folder or served name."""
        ...

    @property
    def context_tokens(self) -> int:
        """Prompt plus answer tokens the model takes, from its config or server."""
        ...

    def render(self, messages: list[Message]) -> str:
        """The prompt text exactly as the model reads it (its own chat template).

        Every backend renders, counts and sends ``neutralise_messages(messages, ...)``: no
        content may open or close a turn.
        """
        ...

    def count_tokens(self, messages: list[Message]) -> int:
        """Prompt tokens of ``messages``, counted by the model's tokenizer."""
        ...

    def warm_up(self) -> None:
        """Load weights or check the server; called once before serving."""
        ...

    def stream(self, messages: list[Message], params: GenerationParams) -> TextStream:
        """Start generating an answer to ``messages``."""
        ...
