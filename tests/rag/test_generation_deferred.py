"""A generator that could not load at start-up is tried again when a question needs it."""

from __future__ import annotations

import pytest

from rag.errors import ModelLoadError
from rag.generation import GenerationParams
from rag.generation.deferred import DeferredGenerator
from rag.prompt import Message


def test_retries_until_the_model_loads(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    attempts: list[int] = []

    def load():  # type: ignore[no-untyped-def]
        attempts.append(1)
        if len(attempts) < 2:
            raise ModelLoadError("cannot reach the LLM server at http://127.0.0.1:9/v1")
        return tiny_generator

    deferred = DeferredGenerator(load, "not started", "bielik", retry_after=0.0)
    assert not deferred.ready
    with pytest.raises(ModelLoadError, match="cannot reach"):
        deferred.count_tokens([{"role": "user", "content": "x"}])
    assert deferred.count_tokens([{"role": "user", "content": "x"}]) > 0
    assert deferred.ready and deferred.context_tokens == tiny_generator.context_tokens
    chat: list[Message] = [{"role": "user", "content": "Kto zatwierdza plan?"}]
    stream = deferred.stream(chat, GenerationParams(max_new_tokens=2))
    answer = stream.text()
    assert stream.usage.completion_tokens in (1, 2)
    assert stream.usage.prompt_tokens == deferred.count_tokens(chat)
    # The loaded model answers: greedy decoding gives what it gives when asked directly.
    assert answer == tiny_generator.stream(chat, GenerationParams(max_new_tokens=2)).text()
    assert len(attempts) == 2


def test_does_not_hammer_a_missing_server() -> None:
    calls: list[int] = []

    def load():  # type: ignore[no-untyped-def]
        calls.append(1)
        raise ModelLoadError("down")

    deferred = DeferredGenerator(load, "down at start", "bielik", retry_after=60.0)
    for _ in range(5):
        with pytest.raises(ModelLoadError, match="not available: down at start"):
            deferred.warm_up()
    assert calls == []  # the start-up attempt counts; the next one waits a minute


def test_a_question_during_a_slow_retry_is_answered_at_once(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    # Offline, a retry of a hub model takes about a minute of the hub's own retries; questions
    # that came meanwhile waited for it, one server thread each, instead of getting the error.
    import threading
    import time

    loading, release = threading.Event(), threading.Event()

    def load():  # type: ignore[no-untyped-def]
        loading.set()
        release.wait(30)
        return tiny_generator

    deferred = DeferredGenerator(load, "offline at start", "bielik", retry_after=0.0)
    first = threading.Thread(target=deferred.warm_up)
    first.start()
    try:
        assert loading.wait(10)
        started = time.monotonic()
        with pytest.raises(ModelLoadError, match="trying to load it again.*offline at start"):
            deferred.count_tokens([{"role": "user", "content": "x"}])
        assert time.monotonic() - started < 5
    finally:
        release.set()
        first.join(30)
    assert deferred.ready and deferred.count_tokens([{"role": "user", "content": "x"}]) > 0
