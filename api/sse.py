"""Server-Sent Events: a blocking iterator of events becomes a streaming response."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Generator, Iterable

import anyio
import anyio.to_thread
from fastapi.responses import StreamingResponse

from api.errors import status_for
from rag.errors import PolragError

log = logging.getLogger(__name__)
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering of tokens


def event(data: object, name: str | None = None) -> str:
    head = f"event: {name}\n" if name else ""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"{head}data: {payload}\n\n"


def sse_response(events: Iterable[str], limiter: anyio.CapacityLimiter | None = None) -> StreamingResponse:
    """Stream ``events``, each produced in a worker thread (``limiter``'s), never on the event loop."""
    body = _in_threads(_guarded(events), limiter)
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)


async def _in_threads(
    events: Generator[str, None, None], limiter: anyio.CapacityLimiter | None = None
) -> AsyncIterator[str]:
    """Starlette does not close a blocking iterator when the client leaves; this does, so the
    answer's generator stops the model instead of generating on for nobody."""
    try:
        while (item := await anyio.to_thread.run_sync(next, events, None, limiter=limiter)) is not None:
            yield item
    finally:
        await anyio.to_thread.run_sync(events.close, limiter=limiter)


def _guarded(events: Iterable[str]) -> Generator[str, None, None]:
    """Errors after the response started cannot change its status: they become an error event."""
    try:
        yield from events
    except PolragError as exc:
        _, code = status_for(exc)
        yield event({"error": {"code": code, "message": str(exc)}}, "error")
    except Exception:
        log.exception("streaming failed")
        yield event({"error": {"code": "internal_error", "message": "internal error"}}, "error")
