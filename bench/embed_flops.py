"""Measured FLOPs/s of each embedder runtime on RoBERTa-large-shaped layers, and what that
means for mmlw-retrieval-roberta-large (not available offline) per 100 pages.

Builds an encoder with RoBERTa-large's layer shape (hidden 1024, 16 heads, FFN 4096) but only
``--layers`` layers and random weights (no download: speed does not depend on the values),
exports it as polrag does (rag/embedder_export.py: ONNX, int8 dynamic per-channel), and times
one batch of ``--batch`` x ``--tokens`` tokens on torch float32, torch bf16 (native bf16 CPUs),
ONNX Runtime float32 and int8, and OpenVINO. FLOPs per token of one layer:
2*(4*h*h + 2*h*f) for the projections and FFN, plus 4*s*h for attention scores and context.
mmlw-retrieval-roberta-large has 24 such layers; its time for 100 pages is 24 layers' FLOPs
for the tokens of 100 pages of the acts in ``../shared/data/pdfs`` (characters per page
measured; ``--chars-per-token`` for its Polish BPE tokenizer, an assumption, printed).

For AVX2-only figures set both ONEDNN_MAX_CPU_ISA=AVX2 and MKL_ENABLE_INSTRUCTIONS=AVX2 (torch's
float32 GEMMs are MKL's). ONNX Runtime's MLAS cannot be capped.

Run from the repo root:  python bench/embed_flops.py [--layers 2] [--batch 8] [--tokens 384]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from rag.device import cpu_features  # noqa: E402

SHARED = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if p.is_dir()), REPO.parent)
HIDDEN, HEADS, FFN, MMLW_LAYERS = 1024, 16, 4096, 24


def flops_per_token(layers: int, tokens: int) -> float:
    return layers * (2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN) + 4 * tokens * HIDDEN)


def chars_per_page() -> float:
    from ingest.loaders import load_file

    chars = pages = 0
    for pdf in sorted((SHARED / "data" / "pdfs").glob("*.pdf")):
        document = load_file(pdf)
        chars += sum(len(page.text) for page in document.pages)
        pages += len(document.pages)
    return chars / max(pages, 1)


def best(run, repeats: int) -> float:  # type: ignore[no-untyped-def]
    run()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=384, help="tokens per passage (polrag chunks ~365)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chars-per-token", type=float, default=4.0)
    args = parser.parse_args()
    import torch
    from transformers import RobertaConfig, RobertaModel

    from rag.embedder_export import _quantise, _token_embeddings_module
    from rag.embedder_runtime import OnnxForward, OpenVinoForward, available

    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=1000,
        hidden_size=HIDDEN,
        num_attention_heads=HEADS,
        intermediate_size=FFN,
        num_hidden_layers=args.layers,
        max_position_embeddings=args.tokens + 8,
    )
    model = RobertaModel(config).eval()
    ids = torch.randint(5, 1000, (args.batch, args.tokens))
    mask = torch.ones_like(ids)
    features = {"input_ids": ids, "attention_mask": mask}
    runs = {}

    def torch_run(m):  # type: ignore[no-untyped-def]
        def run() -> None:
            with torch.inference_mode():
                m(input_ids=ids, attention_mask=mask)

        return run

    runs["torch float32"] = torch_run(model)
    features_cpu = cpu_features()
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "model.onnx", Path(tmp) / "model_int8.onnx"
        with torch.inference_mode():
            torch.onnx.export(
                _token_embeddings_module(model).eval(),
                (ids[:1, :16], mask[:1, :16]),
                str(fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=["token_embeddings"],
                dynamic_axes={
                    n: {0: "b", 1: "t"} for n in ("input_ids", "attention_mask", "token_embeddings")
                },
                opset_version=17,
                dynamo=False,
            )
        _quantise(fp32, int8, keep_ffn_output_float=False)
        if available("onnx"):
            ort32, ort8 = OnnxForward(fp32, None), OnnxForward(int8, None)
            runs["onnx float32"] = lambda: ort32(features)
            runs["onnx int8"] = lambda: ort8(features)
        if available("openvino"):
            ov = OpenVinoForward(fp32, None)
            runs[f"openvino {ov.precision}"] = lambda: ov(features)
        if features_cpu["avx512_bf16"] or features_cpu["amx"]:
            runs["torch bf16"] = torch_run(RobertaModel(config).eval().to(torch.bfloat16))
        seconds = {name: best(run, args.repeats) for name, run in runs.items()}
    per_page = chars_per_page()
    tokens_100 = 100 * per_page / args.chars_per_token
    work = args.batch * args.tokens * flops_per_token(args.layers, args.tokens)
    print(f"CPU: {features_cpu}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    print(
        f"{args.layers} RoBERTa-large layers, batch {args.batch} x {args.tokens} tokens; acts: "
        f"{per_page:.0f} chars/page, {tokens_100:.0f} tokens per 100 pages "
        f"at {args.chars_per_token} chars/token"
    )
    print(f"{'runtime':<20}{'seconds':>9}{'GFLOP/s':>9}{'mmlw-large s/100 pages':>24}")
    for name, value in seconds.items():
        rate = work / value
        estimate = tokens_100 * flops_per_token(MMLW_LAYERS, args.tokens) / rate
        print(f"{name:<20}{value:>9.3f}{rate / 1e9:>9.1f}{estimate:>24.0f}")


if __name__ == "__main__":
    main()
