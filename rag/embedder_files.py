"""What an ingest needs of a sentence-transformers model before its weights load.

Chunking needs the model's tokenizer and token limit, and opening a collection needs the vector
dimension; all three are in the model's small files (``tokenizer.json``, ``modules.json`` and the
module configs). Reading them takes milliseconds, where importing torch and loading the weights
takes seconds (minutes for a first ONNX export): so an ingest parses its first files while the
weights load. Only the plain layout is read (a Transformer, then Pooling, optional Dense and
Normalize, a ``max_seq_length`` given, no lower-casing added by sentence-transformers); anything
else answers None and the model is loaded first, as before. The embedder checks what was read
against the loaded model (:func:`rag.embeddings.Embedder.warm_up`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.hub import cached_snapshot

log = logging.getLogger(__name__)

_POOLING_MODES = (
    "pooling_mode_cls_token",
    "pooling_mode_mean_tokens",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """The model's tokenizer (as ``tokenizer.json`` text), its token limit and vector dimension."""

    tokenizer_json: str
    max_seq_length: int
    dimension: int


def read_model_files(model: str) -> ModelFiles | None:
    """What :class:`ModelFiles` holds, read from a local folder or the hub cache; None if unsure."""
    folder = _local_folder(model)
    if folder is None:
        return None
    try:
        return _read(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a layout this reader does not know
        log.debug("cannot read %s's files ahead of its weights: %s", model, exc)
        return None


def _local_folder(model: str) -> Path | None:
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.is_absolute() or model.count("/") != 1:
        return None
    # A hub id already downloaded; never a download here (the model load does that, and says
    # what is wrong with an id that is not cached).
    return cached_snapshot(model)


def _read(folder: Path) -> ModelFiles | None:
    modules = _json(folder / "modules.json")
    kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
    if not kinds or kinds[0] != "Transformer" or "Pooling" not in kinds:
        return None
    if any(kind not in ("Transformer", "Pooling", "Dense", "Normalize") for kind in kinds[1:]):
        return None
    transformer = folder / modules[0]["path"]
    config = _json(transformer / "sentence_bert_config.json")
    max_seq_length = config.get("max_seq_length")
    if not isinstance(max_seq_length, int) or config.get("do_lower_case") or config.get("tokenizer_args"):
        return None  # the limit comes from elsewhere, or the tokenizer is changed on load
    dimension = 0
    for module, kind in zip(modules, kinds, strict=True):
        if kind == "Pooling":
            pooling = _json(folder / module["path"] / "config.json")
            width = pooling.get("embedding_dimension") or pooling["word_embedding_dimension"]
            dimension = int(width) * _pooled_copies(pooling)
        elif kind == "Dense":
            dimension = int(_json(folder / module["path"] / "config.json")["out_features"])
    if dimension <= 0:
        return None
    tokenizer_json = (transformer / "tokenizer.json").read_text(encoding="utf-8")
    if not _config_agrees(transformer, json.loads(tokenizer_json)):
        return None
    return ModelFiles(tokenizer_json, max_seq_length, dimension)


# tokenizer_config.json options that transformers applies over tokenizer.json when it loads the
# tokenizer, and where tokenizer.json keeps each: a model whose two files disagree tokenises
# otherwise than tokenizer.json alone (a BERT with do_lower_case false keeps its capitals).
_APPLIED_ON_LOAD = {
    "do_lower_case": ("normalizer", "lowercase"),
    "strip_accents": ("normalizer", "strip_accents"),
    "tokenize_chinese_chars": ("normalizer", "handle_chinese_chars"),
    "add_prefix_space": ("pre_tokenizer", "add_prefix_space"),
    "trim_offsets": ("post_processor", "trim_offsets"),
}


def _config_agrees(transformer: Path, tokenizer: dict[str, Any]) -> bool:
    """Whether tokenizer_config.json changes nothing of tokenizer.json (else the model loads first)."""
    path = transformer / "tokenizer_config.json"
    config = _json(path) if path.is_file() else {}
    for key, (part, field) in _APPLIED_ON_LOAD.items():
        if key not in config:
            continue
        component = tokenizer.get(part)
        if not isinstance(component, dict) or field not in component or component[field] != config[key]:
            return False  # another value, or one not kept where it can be compared
    return True


def _pooled_copies(pooling: dict[str, Any]) -> int:
    """How many pooled vectors Pooling concatenates (sentence-transformers 6 and older configs)."""
    mode = pooling.get("pooling_mode")
    if mode is not None:
        return 1 if isinstance(mode, str) else len(mode)
    return max(1, sum(bool(pooling.get(key)) for key in _POOLING_MODES))  # none set: mean


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
