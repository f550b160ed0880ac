"""OpenAI-compatible chat completions with RAG on the last user message.

OpenAI clients and chat front-ends talk to polrag unchanged; the validated citations and
the passages travel as extra top-level fields (``citations``, ``passages``) that such
clients keep (``response.model_extra`` in the openai package).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from functools import partial

import anyio
import anyio.to_thread
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep
from api.errors import ApiError
from api.schemas import ChatMessage, ChatRequest, ErrorResponse
from api.sse import event, sse_response
from rag.answering import Answerer, DoneEvent, PreparedQuestion, TokenEvent
from rag.generation import GenerationParams
from rag.prompt import Message
from rag.types import Answer, passage_json

router = APIRouter(tags=["openai"])


@router.post(
    "/chat/completions",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "chat.completion, or chunks when streaming",
        },
        422: {"model": ErrorResponse},
        502: {"model": ErrorResponse},
    },
)
async def chat_completions(body: ChatRequest, services: ServicesDep) -> object:
    question, history = _split(body.messages)
    answerer = services.answerer
    params = _params(answerer, body)
    prepared = await run_in_threadpool(
        answerer.prepare, question, history=history, collection=body.collection, k=body.k
    )
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    model = answerer.generator.model_name
    if body.stream:
        options = (body.model_extra or {}).get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        chunks = _chunks(answerer, prepared, params, completion_id, model, include_usage)
        return sse_response(chunks, services.generation_threads)
    answer = await anyio.to_thread.run_sync(
        partial(answerer.complete, prepared, params=params), limiter=services.generation_threads
    )
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": answer.usage.to_json(),
        **_sources(answer),
    }


def _chunks(
    answerer: Answerer,
    prepared: PreparedQuestion,
    params: GenerationParams,
    completion_id: str,
    model: str,
    include_usage: bool,
) -> Iterator[str]:
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, str], finish: str | None = None, **extra: object) -> str:
        return event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

    yield chunk({"role": "assistant", "content": ""})
    for item in answerer.answer_events(prepared, params=params):
        if isinstance(item, TokenEvent) and item.text:
            yield chunk({"content": item.text})
        elif isinstance(item, DoneEvent):
            yield chunk({}, item.answer.finish_reason, **_sources(item.answer))
            if include_usage:
                yield event({**base, "choices": [], "usage": item.answer.usage.to_json()})
    yield event("[DONE]")


def _split(messages: list[ChatMessage]) -> tuple[str, list[Message]]:
    """The last user message is the question; earlier user and assistant turns are history.

    The client's system messages are left out: polrag's system message carries the passages
    and the rules that keep answers grounded.
    """
    turns: list[Message] = []
    for message in messages:
        text = _text(message.content)
        if message.role in ("user", "assistant") and text.strip():
            turns.append({"role": message.role, "content": text})
    if not turns or turns[-1]["role"] != "user":
        raise ApiError(
            422, "the last message must come from the user and hold the question", "invalid_request"
        )
    return turns[-1]["content"], turns[:-1]


def _text(content: str | list[dict[str, object]] | None) -> str:
    if isinstance(content, list):  # content parts: keep the text ones
        return "\n".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return content or ""


def _params(answerer: Answerer, body: ChatRequest) -> GenerationParams:
    params = answerer.params
    limit = body.max_completion_tokens or body.max_tokens
    if limit is not None:
        params = replace(params, max_new_tokens=min(limit, params.max_new_tokens))
    if body.temperature is not None:
        params = replace(params, temperature=body.temperature)
    return params


def _sources(answer: Answer) -> dict[str, object]:
    return {
        "citations": [citation.to_json() for citation in answer.citations],
        "passages": [passage_json(n, hit) for n, hit in enumerate(answer.passages, start=1)],
    }
