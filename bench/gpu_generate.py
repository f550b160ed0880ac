"""Generation speed of a Bielik-4.5B-v3-shaped model on one GPU, against the memory-bandwidth bound.

Builds a randomly initialised Llama with Bielik-4.5B-v3's exact shape (60 layers, hidden 2048,
16 query heads, 2 KV heads, head dim 128, intermediate 11008, vocab 32000, untied embeddings;
DESIGN.md) in bfloat16 on the GPU: no download, the same arithmetic as the real weights. For a
RAG-sized prompt (3,000 tokens by default) it measures, with transformers' default generation
path (dynamic KV cache, eager) and with a static KV cache (which `generate` compiles with
torch.compile, "reduce-overhead" CUDA graphs):

- time to first token (prefill + one token), batch 1;
- decode tokens/s at batch 1 and 8 (the time after the first token, over the tokens after it);
- peak GPU memory;
- the ratio of decode speed to the bandwidth bound: every decoded step reads all weights
  (less the input embedding table, read one row per token) plus the KV cache, so steps/s can
  never exceed HBM bandwidth / those bytes.

Without CUDA it prints why and exits 0 (``--tiny`` runs a two-layer shape on the CPU instead,
to check the script itself). One run takes about 2-4 minutes on an H100, most of it compiling.

Run from the repo root:
    python bench/gpu_generate.py [--prompt-tokens 3000] [--new-tokens 128] [--no-compile] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

# Bielik-4.5B-v3 (speakleash/Bielik-4.5B-v3.0-Instruct config.json), see DESIGN.md.
BIELIK_SHAPE = {
    "num_hidden_layers": 60,
    "hidden_size": 2048,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "head_dim": 128,
    "intermediate_size": 11008,
    "vocab_size": 32000,
    "tie_word_embeddings": False,
    "max_position_embeddings": 32768,
}
TINY_SHAPE = {**BIELIK_SHAPE, "num_hidden_layers": 2, "hidden_size": 256, "num_attention_heads": 4,
              "head_dim": 64, "intermediate_size": 512}  # fmt: skip
# HBM bandwidth (bytes/s) by device name, used when the driver does not report clock and bus width.
KNOWN_BANDWIDTH = {"H200": 4.8e12, "H100 NVL": 3.9e12, "H100 PCIe": 2.0e12, "H100": 3.35e12,
                   "A100-SXM4-80GB": 2.04e12, "A100 80GB PCIe": 1.94e12, "A100": 1.56e12, "L40S": 0.864e12,
                   "L4": 0.3e12}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt-tokens", type=int, default=3000)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="Skip the static cache + compile path.")
    parser.add_argument("--bandwidth-gbs", type=float, help="HBM bandwidth in GB/s (default: detected).")
    parser.add_argument(
        "--tiny", action="store_true", help="A two-layer shape on the CPU: checks the script."
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available() and not args.tiny:
        print(
            "skipped: no CUDA device (bench/gpu_generate.py measures GPU generation; --tiny checks it on CPU)"
        )
        return 0
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model, built_s = build_model(TINY_SHAPE if args.tiny else BIELIK_SHAPE, device, dtype)
    bandwidth = detect_bandwidth(args.bandwidth_gbs, device)
    paths = [("default (dynamic cache, eager)", {})]
    if not args.no_compile:
        paths.append(("static cache + torch.compile", {"cache_implementation": "static"}))
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "shape": "tiny" if args.tiny else "Bielik-4.5B-v3",
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(dtype).removeprefix("torch."),
        "build_s": round(built_s, 1),
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "bandwidth_gbs": round(bandwidth / 1e9) if bandwidth else None,
        "paths": [],
    }
    for name, options in paths:
        results["paths"].append(measure(model, name, options, args, device, bandwidth))
    report(results, as_json=args.json)
    return 0


def build_model(shape: dict[str, Any], device: str, dtype: Any) -> tuple[Any, float]:
    """Random weights with the given shape, created on the device directly (no CPU copy)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    started = time.perf_counter()
    config = LlamaConfig(**shape, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            torch.manual_seed(0)
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.eval()
    if device == "cuda":
        model.config._attn_implementation = "sdpa"
        torch.cuda.synchronize()
    return model, time.perf_counter() - started


def measure(
    model: Any, name: str, options: dict[str, Any], args: Any, device: str, bandwidth: float
) -> dict[str, Any]:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    row: dict[str, Any] = {"path": name}
    warm = time.perf_counter()
    generate(model, prompt(model, 1, args.prompt_tokens, device), args.new_tokens, options)  # compiles here
    row["warm_up_s"] = round(time.perf_counter() - warm, 1)
    first = [
        timed(model, prompt(model, 1, args.prompt_tokens, device), 1, options) for _ in range(args.repeats)
    ]
    row["ttft_ms"] = round(1000 * statistics.median(first), 1)
    for batch in args.batch:
        inputs = prompt(model, batch, args.prompt_tokens, device)
        generate(model, inputs, args.new_tokens, options)  # this batch shape compiled and cached
        ttft = statistics.median(timed(model, inputs, 1, options) for _ in range(args.repeats))
        total = statistics.median(timed(model, inputs, args.new_tokens, options) for _ in range(args.repeats))
        steps_per_s = (args.new_tokens - 1) / max(total - ttft, 1e-9)
        row[f"decode_tok_s_b{batch}"] = round(steps_per_s * batch, 1)
        if bandwidth:
            bound = bandwidth / step_bytes(model, batch, args.prompt_tokens + args.new_tokens // 2)
            row[f"bound_steps_s_b{batch}"] = round(bound, 1)
            row[f"of_bound_b{batch}"] = round(steps_per_s / bound, 3)
    if device == "cuda":
        row["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return row


def prompt(model: Any, batch: int, tokens: int, device: str) -> Any:
    import torch

    generator = torch.Generator(device="cpu").manual_seed(batch * 7919 + tokens)
    ids = torch.randint(3, model.config.vocab_size, (batch, tokens), generator=generator)
    return ids.to(device)


def generate(model: Any, inputs: Any, new_tokens: int, options: dict[str, Any]) -> Any:
    import torch

    with torch.inference_mode():
        return model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,  # random weights: never stop early
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
            **options,
        )


def timed(model: Any, inputs: Any, new_tokens: int, options: dict[str, Any]) -> float:
    import torch

    if inputs.is_cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    generate(model, inputs, new_tokens, options)
    if inputs.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - started


def step_bytes(model: Any, batch: int, context: int) -> float:
    """Bytes one decode step must read: weights (not the input embedding table) + the KV cache."""
    config = model.config
    embedding = model.get_input_embeddings().weight
    weights = (
        sum(p.numel() * p.element_size() for p in model.parameters())
        - embedding.numel() * embedding.element_size()
    )
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv = 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * embedding.element_size()
    return weights + batch * context * kv


def detect_bandwidth(gbs: float | None, device: str) -> float:
    """HBM bytes/s: the flag, else clock x bus width from the driver (double data rate), else by name."""
    if gbs:
        return gbs * 1e9
    if device != "cuda":
        return 0.0
    import torch

    props = torch.cuda.get_device_properties(0)
    clock_khz = getattr(props, "memory_clock_rate", 0)
    bus_bits = getattr(props, "memory_bus_width", 0)
    if clock_khz and bus_bits:
        return 2 * clock_khz * 1e3 * bus_bits / 8
    name = props.name
    return next((value for key, value in KNOWN_BANDWIDTH.items() if key in name), 0.0)


def report(results: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{results['shape']} ({results['parameters'] / 1e9:.2f}B parameters, {results['dtype']}) on "
        f"{results['device']}; built in {results['build_s']} s; prompt {results['prompt_tokens']} tokens, "
        f"{results['new_tokens']} new; HBM {results['bandwidth_gbs'] or '?'} GB/s"
    )
    for row in results["paths"]:
        print(f"\n{row['path']}: warm-up {row['warm_up_s']} s, TTFT {row['ttft_ms']} ms", end="")
        print(f", peak {row['peak_gpu_gib']} GiB" if "peak_gpu_gib" in row else "")
        for key, value in row.items():
            if key.startswith("decode_tok_s_b"):
                batch = key.removeprefix("decode_tok_s_b")
                bound = row.get(f"of_bound_b{batch}")
                share = f" ({bound:.0%} of the bandwidth bound)" if bound is not None else ""
                print(f"  batch {batch}: {value} tokens/s{share}")
    if len(results["paths"]) == 2:
        base, fast = results["paths"]
        for key in base:
            if key.startswith("decode_tok_s_b") and key in fast:
                batch = key.removeprefix("decode_tok_s_")
                print(f"static+compile / default, {batch}: {fast[key] / base[key]:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
