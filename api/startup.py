"""How `polrag serve` starts: checks made before the models load, then uvicorn on the bound port.

A bad start ends in one clear line: each check raises a :class:`rag.errors.PolragError` naming
the setting or option to change; the CLI prints it and exits 2 (the traceback only with
``--debug`` or POLRAG_LOG_LEVEL=debug).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from pathlib import Path
from typing import Any

from rag.errors import CollectionError, ConfigError, ModelLoadError
from rag.settings import Settings


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, bound before the slow start so a taken port fails at once.

    uvicorn serves on it as is (``Server.run(sockets=[...])``), so nothing can take the port
    between this check and the server's start.
    """
    # The family as uvicorn picks it, so "localhost" binds 127.0.0.1 as it did before.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a restart may bind while the last run's connections are in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:  # socket.gaierror too: a host name that does not resolve
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"cannot listen on {host}:{port}: the port is in use by another program "
                "(another polrag serve?); stop it or choose another with --port (make run PORT=...)"
            ) from exc
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host and --port"
        ) from exc
    return sock


def check_index_dir(path: Path) -> None:
    """The index folder exists (or is made) and can be read and written, before models load."""
    where = f"the index folder {str(path)!r} (POLRAG_INDEX_DIR)"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise CollectionError(f"cannot use {where}: it is a file, not a folder") from exc
    except OSError as exc:
        raise CollectionError(f"cannot create {where}: {exc.strerror or exc}") from exc
    if not path.is_dir():
        raise CollectionError(f"cannot use {where}: it is not a folder")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise CollectionError(
            f"cannot use {where}: no permission to read and write it; fix its owner or mode, "
            "or point POLRAG_INDEX_DIR at a folder of yours"
        )


def embedder_hint(settings: Settings, error: ModelLoadError) -> ModelLoadError:
    """The embedder's load error with the two ways round it: a local folder or an embedding server."""
    if getattr(settings, "embedding_backend", "sentence-transformers") != "sentence-transformers":
        return error  # already a server: its own message says what is wrong with it
    return ModelLoadError(
        f"{error}; or set POLRAG_EMBEDDING_MODEL to a local folder holding the model, or use an "
        "embedding server (POLRAG_EMBEDDING_BACKEND=openai, POLRAG_EMBEDDING_BASE_URL)"
    )


def serve_on(app: Any, listener: socket.socket, *, host: str, port: int, log_level: str) -> bool:
    """Serve ``app`` with uvicorn on the bound ``listener`` until stopped; False if it never started."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # uvicorn says where it listens only for sockets it bound itself
                shown = f"[{host}]" if ":" in host else host
                logging.getLogger("uvicorn.error").info(
                    "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port
                )

    server = Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))
    server.run(sockets=[listener])
    return bool(server.started)
