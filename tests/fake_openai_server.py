"""A small OpenAI-compatible chat server on loopback, for testing the openai backend for real."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAIServer:
    """Serves /v1/models and /v1/chat/completions (streamed or not) with a scripted reply."""

    def __init__(self, model: str = "bielik", *, reply: str = "Odpowiedź [1].", api_key: str = "") -> None:
        self.model = model
        self.reply = reply
        self.api_key = api_key
        self.max_model_len = 2048
        self.fail_status: int | None = None  # answer chat requests with this error status
        self.delay_s = 0.0
        self.piece_delay_s = 0.0  # pause before each streamed piece, so a client sees the answer grow
        self.report_usage = True
        self.finish_reason = "stop"  # what the last chunk or the completion says
        self.cut_after: int | None = None  # stream this many pieces, then drop the connection
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path.rstrip("/") == "/v1/models":
                    model = {"id": fake.model, "object": "model", "owned_by": "test"}
                    if fake.max_model_len:
                        model["max_model_len"] = fake.max_model_len
                    self._json(200, {"object": "list", "data": [model]})
                else:
                    self._error(404, "no such route")

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append(body)
                time.sleep(fake.delay_s)
                if fake.fail_status:
                    self._error(fake.fail_status, "model crashed: CUDA error")
                elif body.get("model") != fake.model:
                    self._error(404, f"The model `{body.get('model')}` does not exist.")
                elif body.get("stream"):
                    # The client may give up first (a timeout test): nothing to report then.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self._stream(body)
                else:
                    self._json(200, self._completion())

            def _authorised(self) -> bool:
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._error(401, "invalid api key")
                    return False
                return True

            def _completion(self) -> dict[str, Any]:
                return {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": fake.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": fake.reply},
                            "finish_reason": fake.finish_reason,
                        }
                    ],
                    "usage": {"prompt_tokens": 111, "completion_tokens": 7, "total_tokens": 118},
                }

            def _stream(self, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                base = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": fake.model,
                }
                for n, piece in enumerate(re.findall(r"\S+\s*", fake.reply)):
                    if n == fake.cut_after:
                        return  # HTTP/1.0: the body ends when the connection closes
                    time.sleep(fake.piece_delay_s)
                    choice = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                    self._event({**base, "choices": [choice]})
                last = {"index": 0, "delta": {}, "finish_reason": fake.finish_reason}
                self._event({**base, "choices": [last]})
                if fake.report_usage and body.get("stream_options", {}).get("include_usage"):
                    usage = {"prompt_tokens": 111, "completion_tokens": 7, "total_tokens": 118}
                    self._event({**base, "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")

            def _event(self, data: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def _json(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _error(self, status: int, message: str) -> None:
                self._json(status, {"error": {"message": message, "type": "error", "code": status}})

        return Handler
