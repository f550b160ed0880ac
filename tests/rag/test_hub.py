"""rag.hub: a hub model loads from the cache at once when the hub cannot be reached."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import hub


@pytest.fixture()
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A loopback endpoint that accepts connections; the test may close it to cut the hub off."""
    from huggingface_hub import constants

    listener = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in hub._PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    hub.forget_probe()
    yield listener
    listener.close()
    hub.forget_probe()


def test_hub_id_loads_from_the_cache_only_when_the_hub_cannot_be_reached(
    endpoint: socket.socket, tmp_path: Path
) -> None:
    assert hub.hub_options("sdadas/mmlw-retrieval-roberta-large") == {}
    endpoint.close()
    hub.forget_probe()
    assert hub.hub_options("sdadas/mmlw-retrieval-roberta-large") == {"local_files_only": True}
    assert hub.hub_options(str(tmp_path)) == {}  # a local folder never asks the hub


def test_a_failed_probe_is_remembered_for_a_while(
    endpoint: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint.close()
    calls = []
    real = socket.create_connection

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(hub.socket, "create_connection", counting)
    for _ in range(3):
        assert hub.hub_options("org/model") == {"local_files_only": True}
    assert len(calls) == 1
    monkeypatch.setattr(hub, "PROBE_TTL_S", 0.0)  # the network may come back: probed again
    hub.hub_options("org/model")
    assert len(calls) == 2


def test_no_probe_offline_or_behind_a_proxy(endpoint: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    endpoint.close()
    monkeypatch.setattr(hub, "hub_reachable", lambda: pytest.fail("probed"))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")  # a direct connection says nothing
    assert hub.hub_options("org/model") == {}
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the hub client reads the cache itself
    assert hub.hub_options("org/model") == {}
