"""The real server: `polrag serve` on a free loopback port, driven with httpx and the openai client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import ODPADY, PODATEK
from tests.api.server_process import polrag_server, tiny_server_env

QUESTION = "Jakie są warunki uznania odpadów za posiadające właściwości zakaźne?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, minilm_path: str, tiny_llm_path: str) -> Iterator[str]:
    env = tiny_server_env(minilm_path, tiny_llm_path, api_keys="", log_level="WARNING")
    with polrag_server(tmp_path_factory, "server", env) as running:
        yield running.base
        log = running.log
    assert "POLRAG_API_KEYS is not set" in log.read_text()  # it said why it binds loopback only


def test_upload_search_ask_stream_delete(server: str) -> None:
    with httpx.Client(base_url=server, timeout=120) as http:
        files = [("files", (p.name, p.read_bytes(), "application/pdf")) for p in (ODPADY, PODATEK)]
        uploaded = http.post("/v1/documents", files=files)
        assert uploaded.status_code == 200, uploaded.text
        ids = {f["filename"]: f["id"] for f in uploaded.json()["files"]}
        assert set(ids) == {ODPADY.name, PODATEK.name}

        hits = http.post("/v1/search", json={"query": "odpady zakaźne", "k": 3}).json()["hits"]
        assert hits[0]["document"] == ODPADY.name

        answer = http.post("/v1/ask", json={"question": QUESTION}).json()
        assert answer["passages"][0]["document"] == ODPADY.name and answer["usage"]["completion_tokens"] > 0

        with http.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
            names = [
                line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")
            ]
        assert names[0] == "passages" and names[-1] == "done" and "token" in names

        assert http.delete(f"/v1/documents/{ids[ODPADY.name]}").status_code == 204
        left = [d["file_name"] for d in http.get("/v1/documents").json()["documents"]]
        assert left == [PODATEK.name]
        error = http.post("/v1/search", json={"query": ""})
        assert error.status_code == 422 and error.json()["error"]["code"] == "invalid_request"


def test_the_openai_client_works_unchanged(server: str) -> None:
    import openai

    with httpx.Client(base_url=server, timeout=120) as http:
        http.post("/v1/documents", files=[("files", (ODPADY.name, ODPADY.read_bytes()))])
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused", timeout=120)
    completion = client.chat.completions.create(
        model="polrag", messages=[{"role": "user", "content": QUESTION}], max_tokens=6
    )
    assert completion.choices[0].message.role == "assistant"
    extra = completion.model_extra or {}
    assert extra["passages"][0]["document"] == ODPADY.name and "citations" in extra
    assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 6
    cut = completion.usage.completion_tokens == 6
    assert completion.choices[0].finish_reason == ("length" if cut else "stop")

    stream = client.chat.completions.create(
        model="polrag",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1
    passages = (finals[0].model_extra or {}).get("passages") or []
    assert passages and passages[0]["document"] == ODPADY.name
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    # Greedy decoding: the streamed pieces add up to the answer the same request gets whole.
    whole = client.chat.completions.create(model="polrag", messages=[{"role": "user", "content": QUESTION}])
    assert text.strip() and text.strip() == whole.choices[0].message.content
