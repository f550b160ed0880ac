"""The openai backend against an OpenAI-compatible server started on loopback by the test."""

from __future__ import annotations

import socket

import pytest

from rag.errors import ConfigError, GenerationError, ModelLoadError
from rag.generation import GenerationParams, load_generator
from rag.generation.openai_server import OpenAIGenerator
from tests.fake_openai_server import FakeOpenAIServer

CHAT = [
    {"role": "system", "content": "Zasady i fragmenty."},
    {"role": "user", "content": "Kto zatwierdza plan urządzenia lasu?"},
]


@pytest.fixture()
def server():  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(reply="Plan zatwierdza minister [1]. Termin wynosi 30 dni [2].") as fake:
        yield fake


def generator_for(server: FakeOpenAIServer, **options: object) -> OpenAIGenerator:
    return OpenAIGenerator(server.url, server.model, tokenizer="/nonexistent", **options)  # type: ignore[arg-type]


def test_streams_pieces_and_takes_usage_from_the_server(server: FakeOpenAIServer) -> None:
    generator = generator_for(server)
    generator.warm_up()
    stream = generator.stream(CHAT, GenerationParams(max_new_tokens=64, temperature=0.2))  # type: ignore[arg-type]
    pieces = list(stream)
    assert len(pieces) > 3 and "".join(pieces) == server.reply
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (111, 7)
    sent = server.requests[-1]
    assert sent["messages"] == CHAT and sent["max_tokens"] == 64 and sent["temperature"] == 0.2
    assert sent["stream"] is True


def test_non_streaming_request_returns_the_whole_answer(server: FakeOpenAIServer) -> None:
    stream = generator_for(server).stream(CHAT, GenerationParams(stream=False))  # type: ignore[arg-type]
    assert list(stream) == [server.reply]
    assert stream.usage.completion_tokens == 7
    assert not server.requests[-1].get("stream")


def test_finish_reason_comes_from_the_server(server: FakeOpenAIServer) -> None:
    assert generator_for(server).stream(CHAT, GenerationParams()).finish_reason == "stop"  # type: ignore[arg-type]
    server.finish_reason = "length"
    for streaming in (True, False):
        stream = generator_for(server).stream(CHAT, GenerationParams(stream=streaming))  # type: ignore[arg-type]
        stream.text()
        assert stream.finish_reason == "length"


def test_a_stream_cut_before_its_finish_is_an_error(server: FakeOpenAIServer) -> None:
    server.cut_after = 2
    stream = generator_for(server).stream(CHAT, GenerationParams())  # type: ignore[arg-type]
    with pytest.raises(GenerationError, match="broke off the answer"):
        stream.text()


def test_usage_is_counted_when_the_server_reports_none(server: FakeOpenAIServer) -> None:
    server.report_usage = False
    stream = generator_for(server).stream(CHAT, GenerationParams())  # type: ignore[arg-type]
    stream.text()
    assert stream.usage.prompt_tokens > 0 and stream.usage.completion_tokens > 0


def test_warm_up_learns_the_context_length_vllm_reports(server: FakeOpenAIServer) -> None:
    generator = generator_for(server)
    generator.warm_up()
    assert generator.context_tokens == 2048
    assert generator_for(server, context_tokens=1000).context_tokens == 1000


def test_wrong_model_name_lists_what_the_server_serves(server: FakeOpenAIServer) -> None:
    generator = OpenAIGenerator(server.url, "speakleash/Bielik-11B", tokenizer="/nonexistent")
    with pytest.raises(ModelLoadError, match="serves bielik: set POLRAG_LLM_MODEL"):
        generator.warm_up()
    with pytest.raises(GenerationError, match="does not know model"):
        generator.stream(CHAT, GenerationParams()).text()  # type: ignore[arg-type]


def test_server_down_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generator = OpenAIGenerator(f"http://127.0.0.1:{port}/v1", "bielik", tokenizer="/nonexistent", timeout=2)
    with pytest.raises(ModelLoadError, match="cannot reach the LLM server.*vllm serve"):
        generator.warm_up()
    with pytest.raises(GenerationError, match="unreachable"):
        generator.stream(CHAT, GenerationParams()).text()  # type: ignore[arg-type]


def test_server_error_carries_its_message(server: FakeOpenAIServer) -> None:
    server.fail_status = 500
    with pytest.raises(GenerationError, match=r"failed \(500\): model crashed"):
        generator_for(server).stream(CHAT, GenerationParams()).text()  # type: ignore[arg-type]


def test_slow_server_times_out(server: FakeOpenAIServer) -> None:
    server.delay_s = 1.5
    with pytest.raises(GenerationError, match="did not answer in time"):
        generator_for(server, timeout=0.3).stream(CHAT, GenerationParams()).text()  # type: ignore[arg-type]


def test_api_key_is_sent_and_a_wrong_one_refused() -> None:
    with FakeOpenAIServer(api_key="sekret") as server:
        generator_for(server, api_key="sekret").warm_up()
        with pytest.raises(ModelLoadError, match="refused POLRAG_LLM_API_KEY"):
            generator_for(server, api_key="zly").warm_up()
        with pytest.raises(ConfigError, match="POLRAG_LLM_API_KEY"):
            generator_for(server, api_key="zły")


def test_local_tokenizer_renders_and_counts_exactly(server: FakeOpenAIServer, tiny_llm_path: str) -> None:
    generator = OpenAIGenerator(server.url, server.model, tokenizer=tiny_llm_path)
    assert generator.render(CHAT).startswith("<s><|im_start|>system\n")  # type: ignore[arg-type]
    estimated = generator_for(server)
    assert '"role": "system"' in estimated.render(CHAT)  # type: ignore[arg-type]
    assert generator.count_tokens(CHAT) > 0 and estimated.count_tokens(CHAT) > 0  # type: ignore[arg-type]


def test_settings_select_the_backend(server: FakeOpenAIServer, tiny_llm_path: str) -> None:
    from rag.settings import load_settings

    settings = load_settings(
        llm_backend="openai", llm_base_url=server.url, llm_model=server.model, llm_tokenizer=tiny_llm_path
    )
    generator = load_generator(settings)
    assert isinstance(generator, OpenAIGenerator)
    assert generator.stream(CHAT, GenerationParams()).text() == server.reply  # type: ignore[arg-type]
