"""Search latency while another thread ingests into the same collection and crosses the ANN
threshold (the batch whose save trains IVF k-means and switches the index).

What it measures (one process, like the API server: searches and the upload share it):
1. idle: searches alone on a collection just below the threshold, for ``--idle-s`` seconds;
2. ingest: the same searches while a writer adds ``--ingest`` chunks in batches of
   ``--batch`` documents (each batch is one ``writer()`` block: SQLite commits, index
   updates, then the save of both files); the batch that crosses ``--threshold`` also
   trains the IVF index. Reported: search latency p50/p95/p99/max over the whole ingest,
   and over the searches that overlapped the crossing batch's save (the IVF training).

Each search is one dense query (FAISS, 1 query vector) then one BM25 query, through
``Collection.search`` / ``Collection.lexical_search``, i.e. with the collection's own locks
and catch-up checks. Chunks are synthetic (random words from a 20k-word vocabulary, random
unit vectors): this measures waiting for locks, not retrieval quality. Only public
collection APIs are used, so the same script measures an older checkout (run it with that
checkout first on PYTHONPATH) for a before/after comparison.

Run from the repository root:
  python bench/search_during_ingest.py [--dim 256] [--threshold 30000] [--ingest 4000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.collection import Collection, Manifest  # noqa: E402
from rag.types import Chunk, Page, ParsedDocument  # noqa: E402

CHUNKS_PER_DOCUMENT = 10
WORDS_PER_CHUNK = 60
VOCABULARY = [f"w{i}" for i in range(20_000)]


class Corpus:
    """Made-up documents: Zipf-distributed words, random unit vectors."""

    def __init__(self, dimension: int, seed: int = 0) -> None:
        self.dimension = dimension
        self.rng = np.random.default_rng(seed)
        weights = 1.0 / np.arange(1, len(VOCABULARY) + 1)
        self.p = weights / weights.sum()
        self.count = 0

    def document(self) -> tuple[ParsedDocument, list[Chunk], np.ndarray]:
        self.count += 1
        name = f"doc{self.count:06d}.txt"
        words = self.rng.choice(len(VOCABULARY), size=(CHUNKS_PER_DOCUMENT, WORDS_PER_CHUNK), p=self.p)
        texts = [" ".join(VOCABULARY[w] for w in row) for row in words]
        body = "\n".join(texts)
        parsed = ParsedDocument(
            name, "text/plain", hashlib.sha256(body.encode()).hexdigest(), (Page(1, body),), len(body)
        )
        chunks = [Chunk("", name, i, t, 1, 1, 0, len(t), terms=t) for i, t in enumerate(texts)]
        return parsed, chunks, self.vectors(len(texts))

    def vectors(self, n: int) -> np.ndarray:
        x = self.rng.normal(size=(n, self.dimension)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def ingest(collection: Collection, corpus: Corpus, documents: int, batch: int) -> list[tuple[float, float]]:
    """Add ``documents`` in batches; the (start, end) time of each batch's save."""
    saves = []
    for start in range(0, documents, batch):
        with collection.writer() as writer:
            for _ in range(min(batch, documents - start)):
                writer.add(*corpus.document())
            before_save = time.perf_counter()
        saves.append((before_save, time.perf_counter()))
    return saves


def search_loop(
    collection: Collection, corpus: Corpus, stop: threading.Event, out: list[tuple[float, float]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    queries = corpus.vectors(256)
    while not stop.is_set():
        started = time.perf_counter()
        collection.search(queries[rng.integers(256)][None, :], 10)
        collection.lexical_search([VOCABULARY[rng.integers(2000)], VOCABULARY[rng.integers(2000)]], 10)
        out.append((started, time.perf_counter()))


def stats(latencies: list[float]) -> dict[str, float | int]:
    if not latencies:
        return {"searches": 0}
    ms = np.asarray(latencies) * 1000
    return {
        "searches": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def run(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    manifest = Manifest("synthetic", args.dim, "", "", 100, 10, 120)
    collection = Collection.open(folder, "bench", manifest, ann_threshold=args.threshold)
    corpus = Corpus(args.dim)
    preload = (args.threshold - args.ingest // 2) // CHUNKS_PER_DOCUMENT
    t0 = time.perf_counter()
    ingest(collection, corpus, preload, 500)
    preload_s = time.perf_counter() - t0
    assert not collection._index.approximate

    def measured(seconds: float | None) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        stop, times = threading.Event(), [[] for _ in range(args.readers)]  # type: ignore[var-annotated]
        readers = [
            threading.Thread(target=search_loop, args=(collection, corpus, stop, times[i], i))
            for i in range(args.readers)
        ]
        for reader in readers:
            reader.start()
        saves: list[tuple[float, float]] = []
        if seconds is None:
            saves = ingest(collection, corpus, args.ingest // CHUNKS_PER_DOCUMENT, args.batch)
        else:
            time.sleep(seconds)
        stop.set()
        for reader in readers:
            reader.join()
        return [t for part in times for t in part], saves

    idle, _ = measured(args.idle_s)
    t0 = time.perf_counter()
    during, saves = measured(None)
    ingest_s = time.perf_counter() - t0
    approximate = collection._index.approximate
    crossing = max(saves, key=lambda s: s[1] - s[0])  # the save that trained IVF
    overlapping = [end - start for start, end in during if start < crossing[1] and end > crossing[0]]
    result = {
        "dim": args.dim,
        "threshold": args.threshold,
        "preloaded_chunks": preload * CHUNKS_PER_DOCUMENT,
        "preload_s": round(preload_s, 1),
        "ingested_chunks": args.ingest,
        "ingest_s": round(ingest_s, 1),
        "switched_to_ivf": approximate,
        "longest_save_s": round(crossing[1] - crossing[0], 2),
        "readers": args.readers,
        "idle": stats([end - start for start, end in idle]),
        "during_ingest": stats([end - start for start, end in during]),
        "during_ivf_save": stats(overlapping),
    }
    collection.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--threshold", type=int, default=30_000, help="ANN threshold (chunks)")
    parser.add_argument("--ingest", type=int, default=4000, help="chunks added while searching")
    parser.add_argument("--batch", type=int, default=20, help="documents per writer() block")
    parser.add_argument("--readers", type=int, default=2, help="searching threads")
    parser.add_argument("--idle-s", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="polrag-bench-") as tmp:
        print(json.dumps(run(args, Path(tmp)), indent=2))


if __name__ == "__main__":
    main()
