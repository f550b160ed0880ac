"""Questions answered from the documents, whole or streamed as Server-Sent Events."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import anyio.to_thread
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep
from api.schemas import AskRequest, AskResponse, ErrorResponse
from api.sse import event, sse_response
from rag.answering import Answerer, DoneEvent, PassagesEvent, PreparedQuestion, TokenEvent
from rag.prompt import Message
from rag.types import passage_json

router = APIRouter(tags=["ask"])


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"},
        404: {"model": ErrorResponse},
        502: {"model": ErrorResponse},
    },
)
async def ask(body: AskRequest, services: ServicesDep) -> object:
    """Answer with citations. With ``stream``: events ``passages``, ``token``..., ``done``."""
    answerer = services.answerer
    history: list[Message] = [{"role": turn.role, "content": turn.content} for turn in body.history]
    # Retrieval and validation before the response starts: a bad request still gets its 4xx.
    prepared = await run_in_threadpool(
        answerer.prepare,
        body.question,
        history=history,
        collection=body.collection,
        k=body.k,
        document_ids=body.document_ids,
    )
    if body.stream:
        return sse_response(_events(answerer, prepared), services.generation_threads)
    answer = await anyio.to_thread.run_sync(answerer.complete, prepared, limiter=services.generation_threads)
    return answer.to_json()


def _events(answerer: Answerer, prepared: PreparedQuestion) -> Iterator[str]:
    for item in answerer.answer_events(prepared):
        if isinstance(item, PassagesEvent):
            passages = [passage_json(n, hit) for n, hit in enumerate(item.passages, start=1)]
            yield event({"passages": passages}, "passages")
        elif isinstance(item, TokenEvent):
            yield event({"text": item.text}, "token")
        elif isinstance(item, DoneEvent):
            yield event(item.answer.to_json(), "done")
