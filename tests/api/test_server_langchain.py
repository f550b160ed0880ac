"""LangChain's ChatOpenAI against the real `polrag serve`, with an API key: the client as users run it.

Beside the openai client in test_server.py: this is a second OpenAI-compatible client nobody here
wrote, so what it sends (its own defaults, stream_options, history) is checked as it really comes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import ODPADY
from tests.api.server_process import polrag_server, tiny_server_env
from tests.api.test_server import QUESTION

KEY = "klucz-testowy-1"


@pytest.fixture(scope="module")
def keyed_server(
    tmp_path_factory: pytest.TempPathFactory, minilm_path: str, tiny_llm_path: str
) -> Iterator[str]:
    """`polrag serve` on a free loopback port with POLRAG_API_KEYS set, one act uploaded."""
    env = tiny_server_env(minilm_path, tiny_llm_path, api_keys=KEY, log_level="WARNING")
    # --host: with API keys set, serve would otherwise listen on every interface.
    with polrag_server(tmp_path_factory, "langchain-server", env, "--host", "127.0.0.1") as running:
        # serve binds its port itself before loading; it still says where it listens
        assert f"Uvicorn running on http://127.0.0.1:{running.port}" in running.log.read_text()
        uploaded = httpx.post(
            f"{running.base}/v1/documents",
            files=[("files", (ODPADY.name, ODPADY.read_bytes(), "application/pdf"))],
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=120,
        )
        assert uploaded.status_code == 200, uploaded.text
        yield running.base


def chat(server: str, **options: Any) -> Any:
    from langchain_openai import ChatOpenAI

    settings: dict[str, Any] = {"api_key": KEY, "max_tokens": 6, "timeout": 120, "max_retries": 0}
    return ChatOpenAI(model="polrag", base_url=f"{server}/v1", **{**settings, **options})


def test_invoke(keyed_server: str) -> None:
    from langchain_core.messages import AIMessage

    reply = chat(keyed_server).invoke(QUESTION)
    assert isinstance(reply, AIMessage) and isinstance(reply.content, str)
    assert reply.usage_metadata is not None and 0 < reply.usage_metadata["output_tokens"] <= 6
    cut = reply.usage_metadata["output_tokens"] == 6
    assert reply.response_metadata["finish_reason"] == ("length" if cut else "stop")
    assert reply.response_metadata["model_name"]  # the generator's name, as the server reports it


def test_stream_with_history(keyed_server: str) -> None:
    history = [
        ("system", "Odpowiadaj krótko."),  # polrag keeps its own system message; this one is dropped
        ("human", "Czego dotyczy rozporządzenie?"),
        ("ai", "Odpadów medycznych [1]."),
        ("human", QUESTION),
    ]
    chunks = list(chat(keyed_server).stream(history))
    assert len(chunks) >= 2  # the role chunk, tokens, the finish chunk: streamed, not one block
    whole = chunks[0]
    for piece in chunks[1:]:
        whole += piece
    assert isinstance(whole.content, str)
    assert whole.response_metadata["finish_reason"] in ("stop", "length")
    assert whole.usage_metadata is None  # usage only when asked for (stream_options)


def test_stream_with_usage(keyed_server: str) -> None:
    # stream_usage=True is ChatOpenAI's way of sending stream_options={"include_usage": true}.
    chunks = list(chat(keyed_server, stream_usage=True).stream(QUESTION))
    whole = chunks[0]
    for piece in chunks[1:]:
        whole += piece
    usage = whole.usage_metadata
    assert usage is not None and usage["input_tokens"] > 0 and 0 < usage["output_tokens"] <= 6
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    # Greedy decoding: the streamed pieces add up to the answer the same request gets whole.
    assert whole.content and whole.content == chat(keyed_server).invoke(QUESTION).content


def test_a_wrong_key_is_refused_with_401(keyed_server: str) -> None:
    import openai

    with pytest.raises(openai.AuthenticationError) as refused:
        chat(keyed_server, api_key="zly-klucz").invoke(QUESTION)
    assert refused.value.status_code == 401
    assert "missing or wrong API key" in str(refused.value)
