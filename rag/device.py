"""Where models run, and in which precision."""

from __future__ import annotations

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


def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: bfloat16 matmuls run about 3x faster than float32 there."""
    import torch

    cpu = torch.cpu
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in probes)


def resolve_dtype(setting: str, device: str) -> str:
    """The torch dtype name for POLRAG_EMBEDDING_DTYPE on ``device``."""
    if setting != "auto":
        if setting == "float16" and device == "cpu":
            return "float32"  # fp16 kernels on CPU are slow and lossy; bf16 is the CPU choice
        return setting
    if device == "cuda":
        return "float16"
    return "bfloat16" if cpu_has_native_bf16() else "float32"
