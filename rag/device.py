"""Where models run, and in which precision."""

from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=4)
def resolve_device(setting: str = "auto") -> str:
    """'cuda' or 'cpu' for a POLRAG_DEVICE value; 'cuda' without a GPU is refused."""
    import torch

    from rag.errors import ConfigError

    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError("POLRAG_DEVICE=cuda but no CUDA device is available")
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


# ONEDNN_MAX_CPU_ISA values (lower case) that leave out AVX-512 or AMX: torch's oneDNN kernels
# then run as on a CPU without them, which is how an AVX2-only machine is approached here.
_NO_AVX512 = ("sse41", "avx", "avx2", "avx2_vnni", "avx2_vnni_2")
_NO_AMX = (*_NO_AVX512, "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_fp16")


@lru_cache(maxsize=1)
def cpu_features() -> dict[str, bool]:
    """AVX2, AVX-512, AVX512-BF16 and AMX as the CPU reports them, less an ONEDNN_MAX_CPU_ISA cap."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:  # not Linux: ask torch, which knows AVX-512-BF16 and AMX at least
        import torch

        cpu = torch.cpu
        if bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()):
            flags |= {"avx2", "avx512f", "avx512_bf16"}
        if bool(getattr(cpu, "_is_amx_tile_supported", lambda: False)()):
            flags |= {"amx_tile", "amx_bf16"}
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).lower()
    no_avx512 = cap in _NO_AVX512
    return {
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags and not no_avx512,
        "avx512_bf16": "avx512_bf16" in flags and not no_avx512,
        "amx": "amx_bf16" in flags and cap not in _NO_AMX,
        "isa_cap": bool(cap),
    }


def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: bfloat16 matmuls run about 3x faster than float32 there."""
    features = cpu_features()
    return features["amx"] or features["avx512_bf16"]


def resolve_dtype(setting: str, device: str) -> str:
    """The torch dtype name for POLRAG_EMBEDDING_DTYPE on ``device``."""
    if setting != "auto":
        if setting == "float16" and device == "cpu":
            return "float32"  # fp16 kernels on CPU are slow and lossy; bf16 is the CPU choice
        return setting
    if device == "cuda":
        return "float16"
    return "bfloat16" if cpu_has_native_bf16() else "float32"
