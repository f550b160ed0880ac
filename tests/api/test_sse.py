"""Server-Sent Events: a client that leaves closes the answer's generator (and so stops the model)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio

from api.sse import _guarded, _in_threads, event


def test_leaving_early_closes_the_blocking_generator() -> None:
    closed: list[bool] = []

    def answer() -> Iterator[str]:
        try:
            for n in range(1000):
                yield event({"text": str(n)}, "token")
        finally:
            closed.append(True)

    async def read_two_then_leave() -> list[str]:
        stream = _in_threads(_guarded(answer()))
        received = [await stream.__anext__(), await stream.__anext__()]
        await stream.aclose()
        return received

    received = anyio.run(read_two_then_leave)
    assert received[0] == 'event: token\ndata: {"text": "0"}\n\n'
    assert closed == [True]


def test_an_error_mid_stream_becomes_an_error_event() -> None:
    from rag.errors import GenerationError

    def answer() -> Iterator[str]:
        yield event({"text": "Po"}, "token")
        raise GenerationError("the LLM server at http://x/v1 broke off the answer")

    async def read_all() -> list[str]:
        return [item async for item in _in_threads(_guarded(answer()))]

    events = anyio.run(read_all)
    assert events[-1].startswith("event: error\n") and '"code": "generation_failed"' in events[-1]
