"""A scriptable OpenAI-compatible embeddings server on loopback, for the openai embedding backend's
error paths (overload, outages, other models, other dimensions, slowness)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def fake_vector(text: str, dimension: int) -> list[float]:
    """A fixed pseudo-random vector per text (not normalised: the client must normalise)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return [float(x) * 3 for x in np.random.default_rng(seed).normal(size=dimension)]


class FakeEmbeddingServer:
    """Serves /v1/models and /v1/embeddings; the attributes script what it answers."""

    def __init__(self, model: str = "fake-e5", *, dimension: int = 8, api_key: str = "") -> None:
        self.model = model
        self.dimension = dimension
        self.api_key = api_key
        self.listed: list[str] | None = [model]  # None: /v1/models answers 404 (as TEI may)
        self.statuses: deque[int] = deque()  # answer the next embedding requests with these
        self.status_always: int | None = None
        self.retry_after: str | None = None
        self.delay_s = 0.0
        self.reverse_order = False  # send data last-first, each with its index
        self.embedding: Any = None  # send this as every embedding (a broken server) when set
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._count_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeEmbeddingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _embed(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self.statuses or self.status_always:
            status = self.statuses.popleft() if self.statuses else self.status_always
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return int(status or 500), {"error": {"message": f"scripted {status}"}}, headers
        if body.get("model") != self.model:
            return 404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}}, {}
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": fake_vector(text, self.dimension) if self.embedding is None else self.embedding,
            }
            for i, text in enumerate(texts)
        ]
        if self.reverse_order:
            data.reverse()
        return 200, {"object": "list", "data": data, "model": self.model}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path == "/v1/models" and fake.listed is not None:
                    data = [{"id": name, "object": "model"} for name in fake.listed]
                    self._json(200, {"object": "list", "data": data})
                else:
                    self._json(404, {"error": {"message": "no such route"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._authorised():
                    return
                if self.path != "/v1/embeddings":
                    self._json(404, {"error": {"message": "no such route"}})
                    return
                with fake._count_lock:
                    fake.requests.append(body)
                    fake._in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
                try:
                    if fake.delay_s:
                        time.sleep(fake.delay_s)
                    status, answer, headers = fake._embed(body)
                finally:
                    with fake._count_lock:
                        fake._in_flight -= 1
                with contextlib.suppress(OSError):  # the client gave up (timeout tests)
                    self._json(status, answer, headers)

            def _authorised(self) -> bool:
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._json(401, {"error": {"message": "invalid api key"}})
                    return False
                return True

            def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
