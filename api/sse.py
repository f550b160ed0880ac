"""Server-Sent Events: a blocking iterator of events becomes a streaming response."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator

from fastapi.responses import StreamingResponse

from api.errors import status_for
from rag.errors import PolragError

log = logging.getLogger(__name__)
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering of tokens


def event(data: object, name: str | None = None) -> str:
    head = f"event: {name}\n" if name else ""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"{head}data: {payload}\n\n"


def sse_response(events: Iterable[str]) -> StreamingResponse:
    """Stream ``events``; Starlette runs a blocking iterator in its thread pool, not the event loop."""
    return StreamingResponse(_guarded(events), media_type="text/event-stream", headers=HEADERS)


def _guarded(events: Iterable[str]) -> Iterator[str]:
    """Errors after the response started cannot change its status: they become an error event."""
    try:
        yield from events
    except PolragError as exc:
        _, code = status_for(exc)
        yield event({"error": {"code": code, "message": str(exc)}}, "error")
    except Exception:
        log.exception("streaming failed")
        yield event({"error": {"code": "internal_error", "message": "internal error"}}, "error")
