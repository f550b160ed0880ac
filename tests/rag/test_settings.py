"""Settings refuse bad configuration at start-up with a message naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import load_settings


def test_defaults_are_the_real_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("POLRAG_EMBEDDING_MODEL", "POLRAG_INDEX_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.embedding_model == "sdadas/mmlw-retrieval-roberta-large"
    assert settings.llm_model == "speakleash/Bielik-4.5B-v3.0-Instruct"
    assert settings.reranker_model == "sdadas/polish-reranker-large-ranknet"
    assert settings.index_dir == Path("indexes")
    assert (settings.chunk_tokens, settings.chunk_overlap_tokens) == (365, 48)


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("POLRAG_CHUNK_TOKENS=200\nPOLRAG_COLLECTION=umowy\n")
    monkeypatch.setenv("POLRAG_MAX_UPLOAD_MB", "7")
    monkeypatch.setenv("POLRAG_API_KEYS", " a1, b2 ,")
    settings = load_settings()
    assert (settings.chunk_tokens, settings.collection, settings.max_upload_mb) == (200, "umowy", 7)
    assert settings.api_key_list == ["a1", "b2"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"POLRAG_CHUNK_TOKENS": "100", "POLRAG_CHUNK_OVERLAP_TOKENS": "150"},
            "POLRAG_CHUNK_OVERLAP_TOKENS (150) must be smaller than POLRAG_CHUNK_TOKENS (100)",
        ),
        ({"POLRAG_COLLECTION": "../etc"}, "POLRAG_COLLECTION"),
        ({"POLRAG_DEVICE": "tpu"}, "POLRAG_DEVICE"),
        ({"POLRAG_MAX_UPLOAD_MB": "zero"}, "POLRAG_MAX_UPLOAD_MB"),
        ({"POLRAG_EMBEDDING_MODEL": "  "}, "POLRAG_EMBEDDING_MODEL"),
        ({"POLRAG_LLM_BACKEND": "openai"}, "POLRAG_LLM_BASE_URL is required"),
    ],
)
def test_bad_configuration_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert message in str(error.value)
    assert str(error.value).startswith("invalid configuration:")
