"""Which runtime runs the in-process embedder's transformer: torch, ONNX Runtime or OpenVINO.

``POLRAG_EMBEDDING_RUNTIME=auto`` keeps torch on CUDA and on CPUs with AMX (bf16 tiles: torch
wins there), and otherwise times the candidates once on a probe batch and keeps the fastest;
the choice is cached beside the exported graphs, per CPU and thread count.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag.device import cpu_features
from rag.errors import ConfigError

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx", "openvino")
_MODULES = {"onnx": "onnxruntime", "openvino": "openvino"}
PROBE_RUNS = 2  # the best of two runs of the probe batch per candidate


def available(runtime: str) -> bool:
    """Whether the runtime's package is installed (torch always is)."""
    module = _MODULES.get(runtime)
    return module is None or importlib.util.find_spec(module) is not None


def check_runtime(setting: str) -> None:
    """Refuse a runtime whose package is missing, with the command that installs it."""
    if setting in _MODULES and not available(setting):
        raise ConfigError(
            f"POLRAG_EMBEDDING_RUNTIME={setting} needs the {_MODULES[setting]} package: "
            "pip install 'polrag[cpu]'"
        )


def fixed_choice(setting: str, device: str) -> str | None:
    """The runtime decided without measuring, or None when ``auto`` has to probe."""
    if setting != "auto":
        check_runtime(setting)
        return setting
    if device != "cpu" or cpu_features()["amx"]:
        return "torch"
    if not any(available(r) for r in _MODULES):
        return "torch"
    return None


def probe_choice(
    folder: Path, candidates: dict[str, Callable[[], Any]], threads: int | None
) -> tuple[str, dict[str, float]]:
    """The fastest of ``candidates`` (name -> one probe batch), cached in ``folder`` per CPU."""
    features = cpu_features()
    key = hashlib.sha256(json.dumps([features, threads, sorted(candidates)]).encode()).hexdigest()[:12]
    cached = folder / f"runtime-{key}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
        if data.get("runtime") in candidates:
            return str(data["runtime"]), dict(data["seconds"])
    seconds: dict[str, float] = {}
    for name, run in candidates.items():
        run()  # first call: kernel selection and memory planning stay out of the timing
        best = float("inf")
        for _ in range(PROBE_RUNS):
            began = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - began)
        seconds[name] = best
    choice = min(seconds, key=seconds.__getitem__)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"runtime": choice, "seconds": seconds, "cpu": features}))
        os.replace(tmp, cached)
    except OSError:  # a read-only cache: the probe simply runs again next start
        log.debug("cannot cache the runtime choice in %s", folder)
    log.info("embedding runtime probe: %s -> %s", seconds, choice)
    return choice, seconds


class OnnxForward:
    """The exported transformer on ONNX Runtime's CPU provider: features -> token embeddings."""

    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Idle worker threads would spin for the next op and take the core a parser needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.path = path

    def __call__(self, features: dict[str, Any]) -> np.ndarray:
        feed = {name: _int64(features[name]) for name in self.inputs}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


class OpenVinoForward:
    """The exported float32 graph compiled by OpenVINO for the CPU (bf16 where it is native)."""

    def __init__(self, path: Path, threads: int | None) -> None:
        import openvino as ov

        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        # bf16 where the CPU runs it natively (as torch does there): cosine >= 0.9999 to float32.
        self.precision = "bfloat16" if cpu_features()["avx512_bf16"] or cpu_features()["amx"] else "float32"
        config["INFERENCE_PRECISION_HINT"] = "bf16" if self.precision == "bfloat16" else "f32"
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.inputs = [port.get_any_name() for port in self.compiled.inputs]
        self.path = path

    def __call__(self, features: dict[str, Any]) -> np.ndarray:
        # A request per call: one shared request is not safe for a query beside an ingest.
        request = self.compiled.create_infer_request()
        result = request.infer({name: _int64(features[name]) for name in self.inputs})
        return np.asarray(result[self.compiled.outputs[0]], dtype=np.float32)


def _int64(value: Any) -> np.ndarray:
    array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    return np.ascontiguousarray(array, dtype=np.int64)
