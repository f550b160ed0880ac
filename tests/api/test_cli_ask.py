"""`polrag ask` on real acts with the tiny Bielik-shaped model and the openai backend."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.test_cli import cli, run
from tests.conftest import free_port
from tests.fake_openai_server import FakeOpenAIServer

QUESTION = "Jakie są warunki uznania odpadów za posiadające właściwości zakaźne?"


@pytest.fixture()
def acts(settings, real_pdfs: list[Path], tiny_llm_path: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POLRAG_LLM_MODEL", tiny_llm_path)
    monkeypatch.setenv("POLRAG_LLM_MAX_NEW_TOKENS", "16")
    code, _ = run("ingest", *map(str, real_pdfs))
    assert code == 0
    return real_pdfs


def test_show_prompt_prints_the_chatml_prompt_without_generating(acts) -> None:  # type: ignore[no-untyped-def]
    code, out = run("ask", QUESTION, "--show-prompt", "-k", "3")
    assert code == 0
    assert out.startswith("<s><|im_start|>system\nJesteś asystentem")
    assert "[1] DU_2020_poz3.pdf, s. 1" in out
    assert out.endswith(f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n")


def test_ask_json_has_answer_citations_passages_model_usage(acts, tiny_llm_path: str) -> None:  # type: ignore[no-untyped-def]
    code, out = run("ask", QUESTION, "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"answer", "citations", "passages", "model", "usage"}
    assert data["model"] == tiny_llm_path
    assert data["passages"][0]["document"] == "DU_2020_poz3.pdf" and data["passages"][0]["n"] == 1
    assert 0 < data["usage"]["completion_tokens"] <= 16
    assert (
        data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    )


def test_unrelated_question_gets_the_fixed_answer(acts) -> None:  # type: ignore[no-untyped-def]
    code, out = run("ask", "Kto wygrał mundial w 1974 roku?", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["answer"] == "Nie znalazłem w dokumentach informacji na ten temat."
    assert data["citations"] == [] and data["passages"] == []


def test_ask_through_an_openai_compatible_server(acts, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(reply="Odpady są zakaźne, gdy zawierają żywe mikroorganizmy [1].") as server:
        monkeypatch.setenv("POLRAG_LLM_BACKEND", "openai")
        monkeypatch.setenv("POLRAG_LLM_BASE_URL", server.url)
        monkeypatch.setenv("POLRAG_LLM_MODEL", server.model)
        code, out = run("ask", QUESTION)
    assert code == 0
    assert out.startswith("Odpady są zakaźne")
    assert "Źródła:" in out and "[1] DU_2020_poz3.pdf, s. 1" in out


def test_ask_with_the_server_down_is_one_clear_line(acts, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POLRAG_LLM_BACKEND", "openai")
    monkeypatch.setenv("POLRAG_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("POLRAG_LLM_TIMEOUT_S", "2")
    result = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "ask", QUESTION],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot reach the LLM server")
    # Search still works: the passages found are shown, as the web page shows them on a 503.
    lines = result.stdout.splitlines()
    assert lines[0] == "Brak odpowiedzi: model językowy jest niedostępny. Znalezione fragmenty:"
    assert lines[1].startswith("[1] DU_2020_poz3.pdf, s. 1"), result.stdout


def test_ask_checks_the_question_and_collection_before_loading_the_generator(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # A generator that cannot load: before, its error hid the user's own mistake, and with the
    # real Bielik a mistyped collection cost a 9.5 GB load (or a minute of hub retries offline).
    no_model = tmp_path / "no-model"
    no_model.mkdir()
    monkeypatch.setenv("POLRAG_LLM_MODEL", str(no_model))
    missing = cli("ask", QUESTION, "-c", "brak", env={})
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        f"error: collection 'brak' does not exist in {tmp_path / 'indexes'}"
    )
    empty = cli("ask", "   ", env={})
    assert empty.returncode == 2
    assert empty.stderr.strip().splitlines()[-1] == "error: the question is empty"


def test_ask_offline_with_a_hub_generator_fails_in_seconds_and_shows_the_passages(  # type: ignore[no-untyped-def]
    acts, monkeypatch: pytest.MonkeyPatch
):
    """Without a network, the hub client retried each request with growing pauses: `polrag ask`
    took 49 s to say that the generator is not there, and showed nothing it had found."""
    monkeypatch.setenv("POLRAG_LLM_MODEL", "polrag-tests/no-such-llm")  # a hub id, not in the cache
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # as for a user: the client would retry
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "ask", QUESTION],
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 2
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: cannot load the generator 'polrag-tests/no-such-llm'")
    assert "[1] DU_2020_poz3.pdf, s. 1" in result.stdout
    assert seconds < 25, f"{seconds:.0f} s"
