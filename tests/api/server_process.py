"""`polrag serve` as a real process on a free loopback port, for tests that drive it from outside."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

READY_WITHIN_S = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def polrag_command() -> list[str]:
    script = shutil.which("polrag", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", "from api.cli import main; main()"]


def tiny_server_env(minilm_path: str, tiny_llm_path: str, **settings: str) -> dict[str, str]:
    """The environment of a test server: MiniLM, the tiny generator (8 new tokens), CPU; plus
    ``settings`` (``api_keys="k"`` -> POLRAG_API_KEYS=k; a name in capitals, as PYTHONPATH, as given)."""
    env = {
        "POLRAG_EMBEDDING_MODEL": minilm_path,
        "POLRAG_LLM_MODEL": tiny_llm_path,
        "POLRAG_LLM_MAX_NEW_TOKENS": "8",
        "POLRAG_DEVICE": "cpu",
    }
    for name, value in settings.items():
        env[name if name.isupper() else f"POLRAG_{name.upper()}"] = value
    return env


@dataclass(frozen=True)
class RunningServer:
    base: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def polrag_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: Mapping[str, str], *args: str
) -> Iterator[RunningServer]:
    """Start `polrag serve ARGS` with ``env`` over the test's environment, wait for /readyz, stop it after.

    A fresh index folder is made unless ``env`` names one; the server's output goes to a log
    file that failures quote.
    """
    port = free_port()
    full_env = {"POLRAG_INDEX_DIR": str(tmp_path_factory.mktemp(f"{name}-index")), **os.environ, **env}
    log = tmp_path_factory.mktemp(f"{name}-log") / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [*polrag_command(), "serve", *args, "--port", str(port)],
            env=full_env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        server = RunningServer(f"http://127.0.0.1:{port}", port, process, log)
        try:
            _wait_until_ready(server)
            yield server
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_until_ready(server: RunningServer) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"polrag serve exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"polrag serve was not ready in {READY_WITHIN_S} s:\n{server.log.read_text()}")
