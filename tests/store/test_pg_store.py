"""What only the PostgreSQL store does: schema versions, re-analysis, HNSW with filters."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from rag.errors import CollectionError
from rag.pg.backend import PgBackend
from tests.rag.synthetic import DIMENSION, document, manifest


def test_a_database_of_a_later_schema_version_is_refused(database_url: str) -> None:
    PgBackend(database_url).close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE polrag.meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(CollectionError, match="schema version 99; this polrag reads up to 1: upgrade polrag"):
        PgBackend(database_url)


def test_terms_of_an_older_analyser_are_made_again_on_open(database_url: str) -> None:
    backend = PgBackend(database_url)
    store = backend.open("synt", manifest(), create=True)
    parsed, chunks, vectors = document("a.txt", ["Ustawa o odpadach", "Rozporządzenie ministra"])
    with store.writer() as writer:
        writer.add(parsed, chunks, vectors)
    before = [h.chunk_id for h in store.lexical_search(["odpad"], 5)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        schema = conn.execute("SELECT schema_name FROM polrag.collections").fetchone()[0]  # type: ignore[index]
        conn.execute(f'TRUNCATE "{schema}".postings')
        conn.execute("UPDATE polrag.collections SET analysis_version = 'old'")
    assert store.lexical_search(["odpad"], 5) == []
    again = backend.open("synt", manifest(), create=False)
    # Synthetic chunks carried their own lower-cased words; the real analyser gives lemmas.
    assert [h.chunk_id for h in again.lexical_search(["odpad"], 5)] != []
    assert before == [] or before == [h.chunk_id for h in again.lexical_search(["odpad"], 5)]
    stats = again.stats()
    assert stats.chunks == 2
    backend.close()


def test_filtered_dense_search_through_the_hnsw_index_still_returns_k_hits(database_url: str) -> None:
    """Enough rows that the planner walks the HNSW index (for one document of fifty it takes the
    document index and sorts, which is exact): ten of fifty are asked for. Without iterative
    scans the walk stops after ef_search candidates, a fifth of them in those documents."""
    backend = PgBackend(database_url, ef_search=40)
    store = backend.open("duza", manifest(), create=True)
    with store.writer() as writer:
        for d in range(50):
            parsed, chunks, vectors = document(f"d{d}.txt", [f"t{d} {i}" for i in range(200)], seed=d)
            writer.add(parsed, chunks, vectors)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    wanted = {d.id for d in store.documents()[:10]}
    query = np.random.default_rng(1).normal(size=(1, DIMENSION)).astype(np.float32)
    hits = store.search(query / np.linalg.norm(query), 60, document_ids=sorted(wanted))[0]
    assert len(hits) == 60 and {h.document_id for h in hits} <= wanted
    backend.close()


def test_replacing_and_deleting_leave_no_postings_behind(database_url: str) -> None:
    backend = PgBackend(database_url)
    store = backend.open("synt", manifest(), create=True)
    parsed, chunks, vectors = document("a.txt", ["kot pies", "ryba"])
    changed, chunks2, vectors2 = document("a.txt", ["mysz"], seed=1)
    with store.writer() as writer:
        writer.add(parsed, chunks, vectors)
        _, document_id = writer.add(changed, chunks2, vectors2)
    s = f'"{store.schema_name}"'  # type: ignore[attr-defined]
    orphans = f"SELECT count(*) FROM {s}.postings p WHERE NOT EXISTS "
    orphans += f"(SELECT 1 FROM {s}.chunks c WHERE c.id = p.chunk_id)"
    with psycopg.connect(database_url) as conn:
        assert conn.execute(orphans).fetchone() == (0,)
        assert conn.execute(f"SELECT count(*) FROM {s}.postings").fetchone() == (1,)
    assert store.delete_document(document_id)
    with psycopg.connect(database_url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {s}.postings").fetchone() == (0,)
        assert conn.execute(f"SELECT chunks, total_length FROM {s}.stats").fetchone() == (0, 0)
    backend.close()


def test_an_unreachable_or_wrong_database_url_is_one_clear_error() -> None:
    from rag.errors import StoreUnavailable
    from tests.conftest import free_port

    with pytest.raises(StoreUnavailable, match="^cannot reach POLRAG_DATABASE_URL: connection failed"):
        PgBackend(f"postgresql://polrag@127.0.0.1:{free_port()}/polrag")
    from rag.errors import ConfigError
    from rag.settings import load_settings

    with pytest.raises(ConfigError, match="POLRAG_DATABASE_URL: must start with postgresql://"):
        load_settings(database_url="mysql://db/polrag")
