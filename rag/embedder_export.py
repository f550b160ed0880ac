"""ONNX export of an in-process embedder, its int8 quantisation, and the quality gate.

Done once per model: the graphs land in a cache folder beside the model (or under the index
dir when the model's folder is read-only) and later starts load them. The export runs offline
from the local weights with torch's own exporter and ONNX Runtime's quantiser; optimum, which
sentence-transformers' ``backend="onnx"`` needs, pins transformers below the release polrag uses.

The int8 graph is kept only when it passes the gate: its vectors of :data:`PROBE_TEXTS` must
have a mean cosine of at least :data:`MIN_MEAN_COSINE` to the float32 torch vectors (and no
text below :data:`MIN_COSINE`). A model that fails it runs the float32 graph instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.hub import cached_snapshot
from rag.onnx_fusion import eager_attention, fuse

log = logging.getLogger(__name__)

EXPORT_VERSION = 3  # bump when the export or quantisation changes: old caches are rebuilt
FP32_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
FUSED_FILE = "model_fused.onnx"
# The fused float32 graph replaces the plain one only if it gives torch's vectors.
MIN_FUSED_COSINE = 0.9999
GATE_FILE = "gate.json"
# 0.99 let through a MiniLM int8 (mean cosine 0.992) that lost 0.013 of dense R@5 on PoQuAD
# dev (bench/embed_quality.py; PoQuAD tuned this, the own eval set reports): 0.995 keeps recall.
MIN_MEAN_COSINE = 0.995
MIN_COSINE = 0.97

# Polish sentences of the kinds polrag stores (acts, letters, manuals), short to 200+ tokens.
_PROBE_BASE = (
    "Ustawa z dnia 6 marca 2018 r. Prawo przedsiębiorców określa zasady podejmowania, wykonywania "
    "i zakończenia działalności gospodarczej na terytorium Rzeczypospolitej Polskiej.",
    "Art. 12. 1. Minister właściwy do spraw finansów publicznych ogłasza, w drodze obwieszczenia, "
    "wysokość stawek podatku obowiązujących w danym roku kalendarzowym.",
    "Szanowni Państwo, uprzejmie informujemy, że termin złożenia wniosku upływa 30 września.",
    "Przed pierwszym użyciem urządzenia należy naładować akumulator przez co najmniej cztery godziny.",
    "Kto zabiera w celu przywłaszczenia cudzą rzecz ruchomą, podlega karze pozbawienia wolności.",
    "W przypadku niezgodności towaru z umową konsument może żądać wymiany towaru na nowy.",
    "Rada Ministrów określi, w drodze rozporządzenia, szczegółowy tryb przyznawania dotacji celowej.",
    "Czy pracodawca może odmówić udzielenia urlopu na żądanie w okresie wypowiedzenia umowy?",
)
PROBE_TEXTS = tuple(
    " ".join(_PROBE_BASE[(i + k) % len(_PROBE_BASE)] for k in range(1 + i % 5)) for i in range(32)
)


@dataclass(frozen=True, slots=True)
class ExportedModel:
    """The exported graphs of one model and what the gate measured of the int8 one."""

    folder: Path
    int8_passed: bool
    mean_cosine: float
    min_cosine: float

    @property
    def fp32(self) -> Path:
        return self.folder / FP32_FILE

    @property
    def int8(self) -> Path | None:
        return self.folder / INT8_FILE if self.int8_passed else None


def source_fingerprint(model_dir: Path | None, name: str) -> str:
    """A short hash of the model's files (names, sizes, times) and the export version."""
    # Another gate may keep another int8 graph, another fusion check another float32 graph.
    gate = f"{MIN_MEAN_COSINE}|{MIN_COSINE}|{MIN_FUSED_COSINE}"
    digest = hashlib.sha256(f"{name}|{EXPORT_VERSION}|{gate}".encode())
    if model_dir is not None:
        for path in sorted(model_dir.rglob("*")):
            relative = path.relative_to(model_dir)
            if relative.parts[0].startswith(("polrag-onnx-", ".export-")) or not path.is_file():
                continue  # our own exports live beside the weights
            stat = path.stat()
            digest.update(f"{relative}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def cache_folder(model_name: str, fallback_root: Path) -> Path:
    """Where the export of ``model_name`` lives: beside a writable local model, else under the index dir."""
    local = Path(model_name)
    # A hub model is keyed by its cached snapshot (named by its commit): a newer revision of the
    # model gets a new export instead of the old one's; not cached, the name alone keys it.
    fingerprint = source_fingerprint(local if local.is_dir() else cached_snapshot(model_name), model_name)
    if local.is_dir() and os.access(local, os.W_OK):
        return local / f"polrag-onnx-{fingerprint}"
    label = local.name if local.is_dir() else model_name.strip("/").replace("/", "--")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[-80:]
    return fallback_root / ".embedder-cache" / f"{safe}-{fingerprint}"


def load_or_export(model: Any, folder: Path) -> ExportedModel:
    """The exported graphs in ``folder``, exported there first when missing.

    ``model`` is the SentenceTransformer in float32. Concurrent processes each export into a
    private temporary folder and rename it into place; the first rename wins, the others use it.
    """
    gate = folder / GATE_FILE
    if not gate.is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
        try:
            _export(model, work)
            try:
                os.rename(work, folder)
            except OSError:  # another process renamed its export into place first
                if not gate.is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    data = json.loads(gate.read_text())
    return ExportedModel(
        folder, bool(data["int8_passed"]), float(data["mean_cosine"]), float(data["min_cosine"])
    )


def _export(model: Any, work: Path) -> None:
    import torch

    transformer = model[0].auto_model
    wrapped = _token_embeddings_module(transformer).eval()
    sample = model.preprocess(list(PROBE_TEXTS[:2]))
    inputs = _input_names(sample)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in [*inputs, "token_embeddings"]}
    with torch.inference_mode(), eager_attention(transformer):
        torch.onnx.export(
            wrapped,
            tuple(sample[name] for name in inputs),
            str(work / FP32_FILE),
            input_names=inputs,
            output_names=["token_embeddings"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERTs well
        )
    reference = _torch_vectors(model)
    fused = _fuse_if_exact(model, work, reference)
    report: dict[str, Any] = {"int8_passed": False, "mean_cosine": 0.0, "min_cosine": 0.0}
    # The FFN output projections carry the activation outliers that hurt int8 most: a model
    # failing with every MatMul quantised gets a second try with those left in float32.
    for keep_float in (False, True):
        _quantise(work / FP32_FILE, work / INT8_FILE, keep_ffn_output_float=keep_float)
        from rag.embedder_runtime import OnnxForward

        vectors = pooled_vectors(model, OnnxForward(work / INT8_FILE, threads=None), list(PROBE_TEXTS))
        cosines = np.sum(vectors * reference, axis=1)
        report = {
            "int8_passed": bool(cosines.mean() >= MIN_MEAN_COSINE and cosines.min() >= MIN_COSINE),
            "mean_cosine": float(cosines.mean()),
            "min_cosine": float(cosines.min()),
            "ffn_output_float": keep_float,
            "fused": fused,
        }
        if report["int8_passed"]:
            break
    if not report["int8_passed"]:
        (work / INT8_FILE).unlink(missing_ok=True)
        log.warning(
            "int8 %s failed the quality gate (mean cosine %.4f, min %.4f): float32 ONNX is used",
            model[0].auto_model.config.name_or_path,
            report["mean_cosine"],
            report["min_cosine"],
        )
    (work / GATE_FILE).write_text(json.dumps(report, indent=1))


def _fuse_if_exact(model: Any, work: Path, reference: np.ndarray) -> bool:
    """Replace the exported float32 graph by its fused form when that gives torch's vectors."""
    from rag.embedder_runtime import OnnxForward

    if not fuse(work / FP32_FILE, work / FUSED_FILE, model[0].auto_model.config):
        return False
    try:
        vectors = pooled_vectors(model, OnnxForward(work / FUSED_FILE, threads=None), list(PROBE_TEXTS))
    except Exception as exc:  # a fused kernel this build lacks costs the fusion, not the export
        log.warning("the fused ONNX graph does not run, the unfused graph is used: %s", exc)
        return _discard_fused(work)
    cosine = float(np.sum(vectors * reference, axis=1).min())
    if not cosine >= MIN_FUSED_COSINE:  # NaN vectors fail too
        log.warning("the fused ONNX graph drifts from torch (min cosine %.5f): not used", cosine)
        return _discard_fused(work)
    # Weights saved outside the graph (models over 2 GiB) keep their file, which the graph names.
    os.replace(work / FUSED_FILE, work / FP32_FILE)
    return True


def _discard_fused(work: Path) -> bool:
    for leftover in work.glob(f"{FUSED_FILE}*"):
        leftover.unlink()
    return False


def _quantise(source: Path, target: Path, *, keep_ffn_output_float: bool) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    # MatMuls of two activations (attention scores) stay float: quantising them per batch
    # costs accuracy for little speed. So do FFN output projections when asked.
    exclude = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and (
            not any(name in weights for name in node.input)
            or (keep_ffn_output_float and "/output/dense/" in node.name and "/attention/" not in node.name)
        )
    ]
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,  # per-tensor scales cost MiniLM 0.09 of cosine; per-channel 0.01
        op_types_to_quantize=["MatMul", "Attention"],  # a fused graph's Attention -> QAttention
        nodes_to_exclude=exclude,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _torch_vectors(model: Any) -> np.ndarray:
    import torch

    with torch.inference_mode():
        vectors = model.encode(list(PROBE_TEXTS), batch_size=16, convert_to_numpy=True)
    return _normalise(np.asarray(vectors, dtype=np.float32))


def pooled_vectors(model: Any, forward: Any, texts: list[str]) -> np.ndarray:
    """Normalised vectors of ``texts`` with ``forward`` in place of the model's transformer."""
    import torch

    features = model.preprocess(texts)
    features["token_embeddings"] = torch.from_numpy(forward(features))
    with torch.inference_mode():
        for module in list(model)[1:]:
            features = module(features)
    return _normalise(features["sentence_embedding"].float().numpy())


def _normalise(array: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.ascontiguousarray(array / np.maximum(norms, 1e-12), dtype=np.float32)


def _input_names(features: dict[str, Any]) -> list[str]:
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]


def _token_embeddings_module(transformer: Any) -> Any:
    """The transformer as a module of positional tensors returning last_hidden_state."""
    import torch

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *args: Any) -> Any:
            names = ("input_ids", "attention_mask", "token_type_ids")
            return self.transformer(**dict(zip(names, args, strict=False))).last_hidden_state

    return TokenEmbeddings()
