"""`polrag serve` that cannot start says why in one line and exits 2, without a traceback.

Each case runs the real CLI in a subprocess, as `make run` does. The embedding model is one that
cannot load (offline, no such id), so a case that got past its own check would fail on the model,
with another message: the assertions on the message also check the order of the checks.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from rag.settings import Settings
from tests.api.server_process import free_port, polrag_command

NO_MODEL = "polrag-tests/no-such-model"


def serve(tmp_path: Path, *args: str, port: int | None = None, **env: str) -> tuple[int, list[str]]:
    """Exit code and the non-empty output lines of `polrag serve` under POLRAG_* ``env`` only."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("POLRAG_")}
    settings = {
        "POLRAG_INDEX_DIR": str(tmp_path / "indexes"),
        "POLRAG_EMBEDDING_MODEL": NO_MODEL,
        "POLRAG_DEVICE": "cpu",
        **env,
    }
    done = subprocess.run(
        [*polrag_command(), "serve", "--port", str(port or free_port()), *args],
        env={**clean, "HF_HUB_OFFLINE": "1", **settings},
        cwd=tmp_path,  # no .env of the developer's
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines


def assert_one_line(result: tuple[int, list[str]], start: str) -> str:
    code, lines = result
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith(f"error: {start}"), lines
    return lines[0]


def test_an_embedder_that_cannot_load(tmp_path: Path) -> None:
    line = assert_one_line(
        serve(tmp_path), f"cannot load embedding model {NO_MODEL!r} (POLRAG_EMBEDDING_MODEL): "
    )
    assert "HF_HUB_OFFLINE=1 is set" in line
    assert "set POLRAG_EMBEDDING_MODEL to a local folder" in line
    assert "embedding server (POLRAG_EMBEDDING_BACKEND=openai, POLRAG_EMBEDDING_BASE_URL)" in line


@pytest.mark.parametrize(("args", "env"), [(["--debug"], {}), ([], {"POLRAG_LOG_LEVEL": "debug"})])
def test_debug_shows_the_traceback(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    code, lines = serve(tmp_path, *args, **env)
    assert code == 2
    assert "Traceback (most recent call last):" in lines
    assert any(line.startswith("rag.errors.ModelLoadError: cannot load embedding model") for line in lines)
    assert lines[-1].startswith(f"error: cannot load embedding model {NO_MODEL!r}")


def test_a_bad_server_url(tmp_path: Path) -> None:
    line = assert_one_line(
        serve(tmp_path, POLRAG_LLM_BACKEND="openai", POLRAG_LLM_BASE_URL="localhost:8000"),
        "invalid configuration: POLRAG_LLM_BASE_URL: 'localhost:8000' is not an http(s) URL",
    )
    assert line.endswith("write it like http://localhost:8000/v1")


needs_embedding_backend = pytest.mark.skipif(
    "embedding_backend" not in Settings.model_fields, reason="no POLRAG_EMBEDDING_BACKEND setting yet"
)


@pytest.mark.parametrize(
    ("name", "choices"),
    [
        ("POLRAG_LLM_BACKEND", "'transformers' or 'openai'"),
        pytest.param(
            "POLRAG_EMBEDDING_BACKEND", "'sentence-transformers' or 'openai'", marks=needs_embedding_backend
        ),
    ],
)
def test_an_unknown_backend(tmp_path: Path, name: str, choices: str) -> None:
    line = assert_one_line(serve(tmp_path, **{name: "vllm"}), f"invalid configuration: {name}: ")
    assert choices in line


def test_an_index_folder_that_is_a_file(tmp_path: Path) -> None:
    index = tmp_path / "indexes.txt"
    index.write_text("nie folder", encoding="utf-8")
    assert_one_line(
        serve(tmp_path, POLRAG_INDEX_DIR=str(index)),
        f"cannot use the index folder {str(index)!r} (POLRAG_INDEX_DIR): it is a file, not a folder",
    )
    assert_one_line(
        serve(tmp_path, POLRAG_INDEX_DIR=str(index / "kolekcje")),
        f"cannot create the index folder {str(index / 'kolekcje')!r} (POLRAG_INDEX_DIR): Not a directory",
    )


def test_an_unreadable_index_folder(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # Root reads and writes every ordinary folder (CI runs as root); a process's /proc folder
        # is one that even root may not write into.
        index = Path("/proc/1")
        assert index.is_dir() and not os.access(index, os.W_OK)
    else:
        index = tmp_path / "locked"
        index.mkdir(mode=0o000)
    try:
        assert_one_line(
            serve(tmp_path, POLRAG_INDEX_DIR=str(index)),
            f"cannot use the index folder {str(index)!r} (POLRAG_INDEX_DIR): no permission to read and "
            "write it",
        )
    finally:
        if index.is_relative_to(tmp_path):
            index.chmod(0o700)


def test_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = assert_one_line(
            serve(tmp_path, port=port), f"cannot listen on 127.0.0.1:{port}: the port is in use"
        )
    assert "--port" in line


def test_an_unknown_log_level(tmp_path: Path) -> None:
    assert_one_line(
        serve(tmp_path, POLRAG_LOG_LEVEL="gadatliwy"),
        "POLRAG_LOG_LEVEL: unknown level 'gadatliwy'; use debug, info, warning or error",
    )


def test_an_address_not_on_this_machine(tmp_path: Path) -> None:
    port = free_port()
    # 203.0.113.0/24 is TEST-NET-3: documentation only, never an address of this machine.
    assert_one_line(
        serve(tmp_path, "--host", "203.0.113.7", port=port),
        f"cannot listen on 203.0.113.7:{port}: Cannot assign requested address; check --host and --port",
    )
