"""Sentence-transformers embedder: prefixes per model family, token counting, fast batches."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.device import resolve_device, resolve_dtype
from rag.embedder_files import ModelFiles, read_model_files
from rag.embedder_runtime import fixed_choice
from rag.errors import ModelLoadError
from rag.hub import hub_options

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prefixes:
    query: str
    passage: str


# Substring of the model id -> the prefixes the model was trained with.
KNOWN_PREFIXES: tuple[tuple[str, Prefixes], ...] = (
    ("mmlw-retrieval", Prefixes("zapytanie: ", "")),
    ("mmlw-e5", Prefixes("query: ", "passage: ")),
    ("e5", Prefixes("query: ", "passage: ")),
    ("bge-m3", Prefixes("", "")),
)


# Families trained on Polish (or many languages with Polish among them).
READS_POLISH = ("mmlw", "multilingual-e5", "bge-m3", "polish", "herbert", "labse", "paraphrase-multilingual")


def reads_polish(model: str) -> bool:
    """Whether polrag knows the embedder as trained for Polish retrieval."""
    name = model.lower()
    return any(marker in name for marker in READS_POLISH)


def known_prefixes(model: str) -> Prefixes:
    """The prefixes of a known model family; none for models polrag does not know."""
    name = model.lower().rstrip("/")
    for marker, prefixes in KNOWN_PREFIXES:
        if marker in name:
            return prefixes
    return Prefixes("", "")


# Batches are padded to a multiple of this many tokens. Every new (batch, length) shape makes
# oneDNN build and cache kernels: with exact lengths a long ingest kept meeting new shapes and
# its memory grew by ~120 MiB per 1,000 chunks; with 16 it stays flat, at the same speed.
PAD_TO_MULTIPLE_OF = 16


class Embedder:
    """Turns passages and queries into L2-normalised float32 vectors.

    Weights load in :meth:`warm_up` (or on first use), never in ``__init__``. Until they have,
    :attr:`dimension`, :attr:`max_passage_tokens` and :meth:`token_counter` answer from the
    model's small files where they can (:mod:`rag.embedder_files`), so an ingest chunks its first
    files while the weights load on another thread; ``warm_up`` checks those answers.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 32,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        runtime: str = "torch",
        cache_root: Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1.")
        self.model_name = model
        self.batch_size = batch_size
        defaults = known_prefixes(model)
        self.prefixes = Prefixes(
            defaults.query if query_prefix is None else query_prefix,
            defaults.passage if passage_prefix is None else passage_prefix,
        )
        self._device_setting = device
        self._dtype_setting = dtype
        self._runtime_setting = runtime
        # Exports of a model whose folder is read-only (or a hub id) go here.
        self._cache_root = cache_root or Path.home() / ".cache" / "polrag"
        self._forward: Any = None  # the ONNX Runtime / OpenVINO transformer; None: torch
        self.runtime = "torch"
        self.runtime_detail = ""
        self._model: Any = None
        self._query_lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load, however many threads ask for the model
        self._files: ModelFiles | None = None
        self._files_read = False  # read only when asked before the weights load; then checked

    @classmethod
    def from_settings(cls, settings: Any) -> Embedder:
        return cls(
            settings.embedding_model,
            device=settings.device,
            dtype=settings.embedding_dtype,
            batch_size=settings.embedding_batch_size,
            query_prefix=settings.embedding_query_prefix,
            passage_prefix=settings.embedding_passage_prefix,
            runtime=settings.embedding_runtime,
            cache_root=Path(settings.index_dir),
        )

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a weights bar per start-up is noise on the CLI
        device = resolve_device(self._device_setting)
        dtype = resolve_dtype(self._dtype_setting, device)
        try:
            model = SentenceTransformer(self.model_name, device=device, **hub_options(self.model_name))
        except Exception as exc:  # hub errors, missing folders, broken configs
            raise ModelLoadError(_load_hint(self.model_name, exc)) from exc
        _pad_to_multiple(model, PAD_TO_MULTIPLE_OF)
        model.eval()
        runtime = fixed_choice(self._runtime_setting, device)
        exported = None
        if runtime != "torch":
            # Exported from the float32 weights, before any cast below.
            exported = self._export(model)
        # The weights themselves are cast, on CPUs with native bf16 too: measured on AMX, a
        # bf16 MiniLM embeds passages 1.3x faster than float32 weights under bf16 autocast
        # (which casts every weight on every call) and answers one-off queries no slower,
        # at cosine >= 0.9999 to float32.
        if dtype != "float32":
            model.to(getattr(torch, dtype))
        if exported is not None:
            runtime = self._pick_forward(model, exported, runtime)
        if self._forward is not None:
            # The exported graph runs the transformer now; its torch weights would only hold
            # memory (all of the model: 1.4 GB for mmlw-retrieval-roberta-large in float32).
            # Tokenizer, config and pooling stay: they still prepare inputs and pool outputs.
            model[0].auto_model.to("meta")
            _release_freed_memory()
        if self._files is not None:  # answers were given from the files: they must hold
            self._check_files(model)
        self._model = model
        self.dtype = dtype if self._forward is None else self.runtime_detail
        self.runtime = runtime or "torch"  # None: auto found no export to run
        log.info("embedder %s on %s (%s, %s)", self.model_name, device, self.runtime, self.dtype)

    def _export(self, model: Any) -> Any:
        from rag.embedder_export import cache_folder, load_or_export

        folder = cache_folder(self.model_name, self._cache_root)
        try:
            return load_or_export(model, folder)
        except Exception as exc:  # an exporter gap for this architecture: torch still works
            if self._runtime_setting != "auto":
                raise ModelLoadError(f"cannot export {self.model_name!r} for ONNX: {exc}") from exc
            log.warning("ONNX export of %s failed, the embedder runs on torch: %s", self.model_name, exc)
            return None

    def _pick_forward(self, model: Any, exported: Any, runtime: str | None) -> str:
        """Build the ONNX Runtime / OpenVINO forward (``runtime`` None: probe and pick)."""
        from rag.embedder_export import PROBE_TEXTS
        from rag.embedder_runtime import OnnxForward, OpenVinoForward, available, probe_choice

        builders: dict[str, Callable[[], Callable[[dict[str, Any]], Any]]] = {
            "onnx": lambda: OnnxForward(exported.int8 or exported.fp32, threads=None),
            "openvino": lambda: OpenVinoForward(exported.fp32, threads=None),
        }
        int8 = "int8" if exported.int8 else "float32"
        if runtime is not None:
            try:
                self._forward = builders[runtime]()
            except Exception as exc:  # a runtime too old for the graph's operators, a broken install
                raise ModelLoadError(
                    f"POLRAG_EMBEDDING_RUNTIME={runtime} cannot run {self.model_name!r}: "
                    f"{_first_line(exc)} (auto or torch would load it)"
                ) from exc
            self.runtime_detail = getattr(self._forward, "precision", int8)
            return runtime
        forwards: dict[str, Callable[[dict[str, Any]], Any]] = {}
        for name, build in builders.items():
            if not available(name):
                continue
            try:
                forwards[name] = build()
            except Exception as exc:  # a runtime that cannot run this graph is no candidate
                log.warning("embedding runtime %s cannot run %s, not timed: %s", name, self.model_name, exc)
        features = model.preprocess(list(PROBE_TEXTS[:16]))

        def run_torch() -> Any:
            import torch

            with torch.inference_mode():
                return model[0].auto_model(**{k: features[k] for k in ("input_ids", "attention_mask")})

        candidates: dict[str, Callable[[], Any]] = {"torch": run_torch}
        for name, forward in forwards.items():
            candidates[name] = functools.partial(forward, features)
        choice, _ = probe_choice(exported.folder, candidates, threads=None)
        if choice != "torch":
            self._forward = forwards[choice]
            self.runtime_detail = getattr(self._forward, "precision", int8)
        return choice

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model

    @property
    def dimension(self) -> int:
        files = self._unloaded_files()
        if files is not None:
            return files.dimension
        return _dimension_of(self.model)

    @property
    def max_passage_tokens(self) -> int:
        """Tokens of passage text the model reads without truncating (prefix and specials off)."""
        files = self._unloaded_files()
        if files is not None:
            return self._files_passage_tokens(files, HFTokenCounter.from_json(files.tokenizer_json))
        return _max_passage_tokens(self.model, self.prefixes.passage)

    def _unloaded_files(self) -> ModelFiles | None:
        """The model's files while its weights are not loaded (None once they are, or if unread)."""
        if self._model is not None:
            return None
        if not self._files_read:
            self._files = read_model_files(self.model_name)
            self._files_read = True
        return self._files

    def _files_passage_tokens(self, files: ModelFiles, counter: HFTokenCounter) -> int:
        """:attr:`max_passage_tokens` as the model's files give it (``counter`` of their tokenizer)."""
        prefix = counter.count([self.prefixes.passage])[0] if self.prefixes.passage else 0
        return files.max_seq_length - counter.special_tokens() - prefix

    def _check_files(self, model: Any) -> None:
        """The values read from the files before the weights loaded must be the model's own."""
        from rag.embedder_export import PROBE_TEXTS

        files = self._files
        assert files is not None
        light = HFTokenCounter.from_json(files.tokenizer_json)
        texts = [*PROBE_TEXTS, self.prefixes.passage, "Zażółć gęślą jaźń <think> [INST] §12 ust. 3"]
        read = (files.dimension, self._files_passage_tokens(files, light))
        loaded = (_dimension_of(model), _max_passage_tokens(model, self.prefixes.passage))
        if read != loaded or light.count(texts) != HFTokenCounter(model.tokenizer).count(texts):
            raise ModelLoadError(
                f"embedding model {self.model_name!r}: its files say {read[0]}-d vectors and "
                f"{read[1]} tokens a passage (or count tokens otherwise), the loaded model "
                f"{loaded[0]}-d and {loaded[1]}; nothing was stored (please report this layout)"
            )

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.prefixes.passage + t for t in texts])

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        # One query batch at a time: each already uses every intra-op thread, and dozens of
        # concurrent requests encoding at once thrash the cores (measured by bench/api_load.py).
        with self._query_lock:
            return self._encode([self.prefixes.query + t for t in texts])

    def token_counter(self) -> HFTokenCounter:
        files = self._unloaded_files()
        if files is not None:
            return HFTokenCounter.from_json(files.tokenizer_json)
        return HFTokenCounter(self.model.tokenizer)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        self.warm_up()
        if self._forward is not None:
            return self._encode_exported(texts)
        with torch.inference_mode():
            # encode() sorts by length itself, so each batch pads only to similar lengths.
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=False,
                convert_to_tensor=True,
                show_progress_bar=False,
            )
        array = vectors.float().cpu().numpy()
        # Normalise in float32: a bf16/fp16 norm is off by up to 1e-3.
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        return np.ascontiguousarray(array / np.maximum(norms, 1e-12), dtype=np.float32)

    def _encode_exported(self, texts: list[str]) -> np.ndarray:
        from rag.embedder_export import pooled_vectors

        # Longest first, in batches of similar length: padding is work the runtime does for
        # nothing, and the padded lengths are multiples of PAD_TO_MULTIPLE_OF.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            out[picked] = pooled_vectors(self.model, self._forward, [texts[i] for i in picked])
        return out


COUNT_SLICE = 256  # texts tokenized at once when counting


class HFTokenCounter:
    """Token counts and token-bounded splits with a Hugging Face fast tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        # The Rust tokenizer itself is a third faster than the transformers wrapper, but it
        # carries the padding/truncation of tokenizer.json (MiniLM pads to 128) and whatever
        # an encode() set last: count with a private copy that does neither.
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._backend = _counting_backend(backend.to_str()) if backend is not None else None

    @classmethod
    def from_json(cls, tokenizer_json: str) -> HFTokenCounter:
        """A counter of a ``tokenizer.json`` alone (no transformers: it loads in milliseconds)."""
        counter = cls.__new__(cls)
        counter.tokenizer = None
        counter._backend = _counting_backend(tokenizer_json)
        return counter

    def special_tokens(self) -> int:
        """Special tokens the tokenizer adds to one text ([CLS] and [SEP], <s> and </s>)."""
        if self.tokenizer is not None:
            return int(self.tokenizer.num_special_tokens_to_add(pair=False))
        processor = self._backend.post_processor if self._backend is not None else None
        return int(processor.num_special_tokens_to_add(False)) if processor is not None else 0

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Parser processes receive the counter pickled: the Rust tokenizer alone travels (its
        # JSON), so they need neither transformers nor the model's files.
        if self._backend is not None:
            return HFTokenCounter.from_json, (self._backend.to_str(),)
        return HFTokenCounter, (self.tokenizer,)

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if self._backend is not None:
            # In slices: an Encoding per text (ids, offsets, token strings) for a whole book at
            # once took 280 MiB at 5 million characters; the counts are all that is kept.
            counts: list[int] = []
            for start in range(0, len(texts), COUNT_SLICE):
                batch = list(texts[start : start + COUNT_SLICE])
                counts += [len(e.ids) for e in self._backend.encode_batch(batch, add_special_tokens=False)]
            return counts
        encoded = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def split(self, text: str, max_tokens: int) -> list[tuple[int, int]]:
        # The private copy again: calling the shared tokenizer here would switch its truncation
        # under an embedder encoding in another thread (the parser runs beside it).
        if self._backend is not None:
            offsets = self._backend.encode(text, add_special_tokens=False).offsets
        else:
            encoded = self.tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
            )
            offsets = encoded["offset_mapping"]
        spans: list[tuple[int, int]] = []
        index = 0
        start = 0
        while index < len(offsets):
            stop = min(index + max_tokens, len(offsets))
            if stop < len(offsets):
                # Back off to a token that starts a word, so no word is cut in half.
                for candidate in range(stop, index + max(1, max_tokens // 2), -1):
                    begin = offsets[candidate][0]
                    if begin > 0 and text[begin - 1].isspace():
                        stop = candidate
                        break
            end = offsets[stop - 1][1] if stop < len(offsets) else len(text)
            if end > start:
                spans.append((start, end))
            start = offsets[stop][0] if stop < len(offsets) else len(text)
            index = stop
        return [(a, b) for a, b in (_trim(text, a, b) for a, b in spans) if b > a]


def _counting_backend(tokenizer_json: str) -> Any:
    """A private Rust tokenizer that neither pads nor truncates."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer_json)
    backend.no_padding()
    backend.no_truncation()
    return backend


def _release_freed_memory() -> None:
    """Hand freed heap back to the system (glibc keeps it for reuse otherwise; RSS stays)."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: reused within the process
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _dimension_of(model: Any) -> int:
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get_dim())


def _max_passage_tokens(model: Any, passage_prefix: str) -> int:
    tokenizer = model.tokenizer
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    prefix = len(tokenizer(passage_prefix, add_special_tokens=False)["input_ids"])
    return int(model.max_seq_length) - specials - prefix


def _pad_to_multiple(model: Any, multiple: int) -> None:
    """Make the model's tokenizer pad each batch to a multiple of ``multiple`` tokens."""
    limit = int(getattr(model, "max_seq_length", None) or 0)
    if not len(model) or not limit or limit % multiple:
        return  # no known limit, or one padding could pass: it could exceed the positions
    first = model[0]
    kwargs = getattr(first, "processing_kwargs", None)
    if isinstance(kwargs, dict):  # sentence-transformers 6; older releases pad to the longest
        text = {**kwargs.get("text", {}), "pad_to_multiple_of": multiple}
        first.processing_kwargs = {**kwargs, "text": text}


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _load_hint(model: str, exc: Exception) -> str:
    if Path(model).exists():
        return f"cannot load embedding model from folder {model!r}: {exc}"
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    hint = (
        "HF_HUB_OFFLINE=1 is set, so only models already in the cache or a local folder load"
        if offline
        else "check the id, your network, and HF_TOKEN for gated models"
    )
    return f"cannot load embedding model {model!r} (POLRAG_EMBEDDING_MODEL): {exc}; {hint}"


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
