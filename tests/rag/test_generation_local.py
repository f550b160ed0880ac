"""The transformers backend on a tiny random Llama carrying Bielik's tokens and chat template."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from unittest.mock import MagicMock

import pytest

from rag.errors import ModelLoadError
from rag.generation import GenerationParams
from rag.generation.local import TransformersGenerator
from tests.tiny_models import make_first_token

CHAT = [
    {"role": "system", "content": "Zasady i fragmenty."},
    {"role": "user", "content": "Kto zatwierdza plan urządzenia lasu?"},
]


def test_renders_bielik_chatml_exactly(tiny_generator: TransformersGenerator) -> None:
    conversation = [
        {"role": "system", "content": "Instrukcje\n[1] ustawa.pdf, s. 2\nTekst"},
        {"role": "user", "content": "Pierwsze pytanie?"},
        {"role": "assistant", "content": "Odpowiedź [1]."},
        {"role": "user", "content": "A drugie?"},
    ]
    assert tiny_generator.render(conversation) == (  # type: ignore[arg-type]
        "<s><|im_start|>system\nInstrukcje\n[1] ustawa.pdf, s. 2\nTekst<|im_end|>\n"
        "<|im_start|>user\nPierwsze pytanie?<|im_end|>\n"
        "<|im_start|>assistant\nOdpowiedź [1].<|im_end|>\n"
        "<|im_start|>user\nA drugie?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_counts_tokens_without_a_second_bos(tiny_generator: TransformersGenerator) -> None:
    ids = tiny_generator.tokenizer(tiny_generator.render(CHAT), add_special_tokens=False)["input_ids"]
    assert tiny_generator.count_tokens(CHAT) == len(ids)  # type: ignore[arg-type]
    assert ids.count(tiny_generator.tokenizer.bos_token_id) == 1


def test_context_and_stops_come_from_the_model(tiny_generator: TransformersGenerator) -> None:
    assert tiny_generator.context_tokens == 1024  # max_position_embeddings of the tiny config
    tokenizer = tiny_generator.tokenizer
    assert set(tiny_generator.stop_ids) == {
        tokenizer.convert_tokens_to_ids("<|im_end|>"),
        tokenizer.convert_tokens_to_ids("</s>"),
    }


def test_streams_the_same_text_greedy_gives(tiny_generator: TransformersGenerator) -> None:
    params = GenerationParams(max_new_tokens=24)
    stream = tiny_generator.stream(CHAT, params)  # type: ignore[arg-type]
    pieces = list(stream)
    assert len([p for p in pieces if p]) > 1  # arrived in pieces, not at the end
    assert stream.usage.prompt_tokens == tiny_generator.count_tokens(CHAT)  # type: ignore[arg-type]
    assert 0 < stream.usage.completion_tokens <= 24
    again = tiny_generator.stream(CHAT, params).text()  # type: ignore[arg-type]
    assert "".join(pieces) == again


def test_cancel_stops_generation_early(tiny_generator: TransformersGenerator) -> None:
    stream = tiny_generator.stream(CHAT, GenerationParams(max_new_tokens=400))  # type: ignore[arg-type]
    for _ in zip(range(3), stream, strict=False):
        pass
    stream.cancel()
    rest = list(stream)
    assert len(rest) < 100


def test_concurrent_requests_get_their_own_answers(tiny_generator: TransformersGenerator) -> None:
    chats = [[{"role": "user", "content": f"Pytanie numer {n} o plan lasu?"}] for n in range(4)]
    params = GenerationParams(max_new_tokens=16)
    expected = [tiny_generator.stream(chat, params).text() for chat in chats]  # type: ignore[arg-type]
    results: dict[int, str] = {}

    def ask(n: int) -> None:
        results[n] = tiny_generator.stream(chats[n], params).text()  # type: ignore[arg-type]

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [results[n] for n in range(4)] == expected


@pytest.mark.parametrize("stop", ["<|im_end|>", "</s>"])
def test_stops_on_chatml_end_tokens(tiny_llm_path: str, tmp_path: Path, stop: str) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_llm_path, folder)
    make_first_token(folder, stop)
    generator = TransformersGenerator(str(folder), device="cpu")
    stream = generator.stream(CHAT, GenerationParams(max_new_tokens=30))  # type: ignore[arg-type]
    assert stream.text() == ""
    assert stream.usage.completion_tokens == 1  # the stop token itself, nothing after it
    assert stream.finish_reason == "stop"


def test_an_answer_cut_by_the_token_limit_says_length(tiny_generator: TransformersGenerator) -> None:
    stream = tiny_generator.stream(CHAT, GenerationParams(max_new_tokens=3))  # type: ignore[arg-type]
    stream.text()
    assert stream.usage.completion_tokens == 3 and stream.finish_reason == "length"


def test_missing_model_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="POLRAG_LLM_MODEL"):
        TransformersGenerator(str(tmp_path / "no-such-model"), device="cpu")


def test_missing_folder_whose_path_holds_403_is_not_called_gated(tmp_path: Path) -> None:
    # pytest numbers its temporary folders, and pytest-403 once read as an HTTP 403 from the hub
    folder = tmp_path / "pytest-403" / "no-such-model-401"
    with pytest.raises(ModelLoadError) as refusal:
        TransformersGenerator(str(folder), device="cpu")
    assert "POLRAG_LLM_MODEL" in str(refusal.value)
    assert "gated" not in str(refusal.value)


def test_hub_refusal_is_read_from_the_exception_chain() -> None:
    from huggingface_hub.errors import GatedRepoError

    from rag.generation.local import _load_errors

    with pytest.raises(ModelLoadError, match="accept its terms"), _load_errors("org/model"):
        try:
            raise GatedRepoError(
                "Access to model org/model is restricted.", response=MagicMock(status_code=401)
            )
        except GatedRepoError as exc:
            raise OSError("org/model could not be loaded") from exc


def test_model_without_chat_template_is_refused(tiny_llm_path: str, tmp_path: Path) -> None:
    import json

    folder = tmp_path / "base-model"
    shutil.copytree(tiny_llm_path, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    for extra in folder.glob("chat_template.*"):
        extra.unlink()
    with pytest.raises(ModelLoadError, match="no chat template"):
        TransformersGenerator(str(folder), device="cpu")


def test_gated_model_error_says_to_accept_terms_and_set_a_token() -> None:
    from rag.generation.local import _load_errors

    refusal = OSError(
        "You are trying to access a gated repo. Make sure to have access to it at "
        "https://huggingface.co/speakleash/Bielik-4.5B-v3.0-Instruct. 401 Client Error."
    )
    with pytest.raises(ModelLoadError, match="accept its terms.*HF_TOKEN"), _load_errors("speakleash/Bielik"):
        raise refusal
