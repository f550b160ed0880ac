"""A generator that failed to load at start-up, tried again when a question needs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rag.errors import ModelLoadError
from rag.generation.base import GenerationParams, Generator, TextStream
from rag.prompt import Message

RETRY_AFTER_S = 30.0


class DeferredGenerator:
    """Stands in for a generator whose model or server was not available at start-up.

    Search and documents keep working; a question tries to load it again (at most every
    ``retry_after`` seconds) and, while it still fails, gets the load error: a vLLM server
    started after polrag is picked up without a restart.
    """

    def __init__(
        self, load: Callable[[], Generator], error: str, model_name: str, retry_after: float = RETRY_AFTER_S
    ) -> None:
        self._load = load
        self.error = error
        self.model_name = model_name
        self._retry_after = retry_after
        self._inner: Generator | None = None
        self._last_try = time.monotonic()
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._inner is not None

    @property
    def context_tokens(self) -> int:
        return self._get().context_tokens

    def render(self, messages: list[Message]) -> str:
        return self._get().render(messages)

    def count_tokens(self, messages: list[Message]) -> int:
        return self._get().count_tokens(messages)

    def warm_up(self) -> None:
        self._get()

    def stream(self, messages: list[Message], params: GenerationParams) -> TextStream:
        return self._get().stream(messages, params)

    def _get(self) -> Generator:
        if self._inner is not None:
            return self._inner
        # One question tries the load; the others answer at once instead of queueing behind it
        # (offline, the hub's retries alone take about a minute).
        if not self._lock.acquire(blocking=False):
            raise ModelLoadError(f"the generator is not available (trying to load it again): {self.error}")
        try:
            if self._inner is not None:
                return self._inner
            if time.monotonic() - self._last_try < self._retry_after:
                raise ModelLoadError(f"the generator is not available: {self.error}")
            self._last_try = time.monotonic()
            try:
                generator = self._load()
                generator.warm_up()
            except ModelLoadError as exc:
                self.error = str(exc)
                raise
            self._inner = generator
            return generator
        finally:
            self._lock.release()
