"""Bulk loads into PostgreSQL: without the HNSW index, built once after; a load cut short leaves
a collection that searches exactly and gets its index back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from rag.errors import CollectionNotFound
from rag.pg import index as pg_index
from rag.pg.backend import PgBackend
from rag.pg.store import PgStore
from tests.rag.synthetic import DIMENSION, document, manifest

ROOT = Path(__file__).parents[2]


def _has_index(store: PgStore) -> bool:
    with store.connection() as conn:
        return pg_index.has_index(conn, store.schema_name)


def _uses_index(store: PgStore, query: np.ndarray) -> bool:
    """Whether the planner walks the HNSW index for the store's dense query (forced where it may)."""
    d = store.manifest.dimension
    with store.connection() as conn:
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = conn.execute(
            store._q(
                f"EXPLAIN SELECT id FROM {{s}}.chunks ORDER BY embedding::halfvec({d}) <#> "
                f"%s::vector({d})::halfvec({d}) LIMIT 10"
            ),
            (query,),
        ).fetchall()
    return any(pg_index.INDEX_NAME in row[0] for row in plan)


def _exact(store: PgStore, query: np.ndarray, k: int) -> list[int]:
    """The k nearest chunk ids by inner product over the full vectors, computed here."""
    ids, vectors = [], []
    for stored in store.export():
        ids.extend(stored.chunk_ids)
        vectors.append(stored.vectors)
    scores = np.concatenate(vectors) @ query
    return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


def test_a_bulk_load_into_an_empty_collection_builds_the_hnsw_index_once(database_url: str) -> None:
    backend = PgBackend(database_url)
    store = backend.open("bulk", manifest(), create=True)
    query = np.ones(DIMENSION, dtype=np.float32) / np.sqrt(DIMENSION)
    with store.writer(bulk=100) as writer:
        assert writer.bulk is not None and writer.bulk.dropped
        assert not _has_index(store)  # dropped before the first row
        for d in range(3):
            writer.add(*document(f"d{d}.txt", [f"t{d} {i}" for i in range(30)], seed=d))
        # A reader meanwhile: exact scan, the iterative scan settings harmless.
        assert [h.chunk_id for h in store.search(query[None], 10)[0]] == _exact(store, query, 10)
    assert writer.bulk.build_s is not None and writer.bulk.build_s >= 0
    assert _has_index(store) and _uses_index(store, query)
    assert [h.chunk_id for h in store.search(query[None], 10)[0]] == _exact(store, query, 10)
    backend.close()


def _holding_25_chunks(database_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[PgBackend, Any]:
    """A collection of 25 chunks, "large" under a threshold lowered to 20."""
    monkeypatch.setattr(pg_index, "BULK_DROP_BELOW", 20)
    backend = PgBackend(database_url)
    store = backend.open("bulk", manifest(), create=True)
    with store.writer() as writer:
        writer.add(*document("a.txt", [f"a {i}" for i in range(25)]))
    return backend, store


def test_a_bulk_load_of_fewer_chunks_than_a_large_collection_holds_keeps_its_index(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, store = _holding_25_chunks(database_url, monkeypatch)
    with store.writer(bulk=5) as writer:
        assert writer.bulk is not None and not writer.bulk.dropped
        assert "holds 25 chunks, 5 to come" in writer.bulk.kept_because
        writer.add(*document("b.txt", [f"b {i}" for i in range(5)], seed=1))
        assert _has_index(store)
    assert writer.bulk.build_s is None and _has_index(store)
    with store.writer(bulk=40) as writer:  # more to come than is there: a rebuild pays
        assert writer.bulk is not None and writer.bulk.dropped and not _has_index(store)
        writer.add(*document("c.txt", [f"c {i}" for i in range(40)], seed=2))
    assert writer.bulk.build_s is not None and _has_index(store)
    backend.close()


def test_the_rerun_of_a_load_cut_short_carries_on_without_the_index_and_builds_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, store = _holding_25_chunks(database_url, monkeypatch)
    with psycopg.connect(database_url, autocommit=True) as conn:  # what a killed load leaves
        conn.execute(f'DROP INDEX "{store.schema_name}".{pg_index.INDEX_NAME}')
    with store.writer(bulk=5) as writer:  # fewer to come than are there, but no index to keep
        assert writer.bulk is not None and writer.bulk.dropped and not writer.bulk.kept_because
        writer.add(*document("b.txt", [f"b {i}" for i in range(5)], seed=1))
    assert writer.bulk.build_s is not None and _has_index(store)
    backend.close()


def test_an_error_in_a_bulk_load_still_builds_the_index(database_url: str) -> None:
    backend = PgBackend(database_url)
    store = backend.open("bulk", manifest(), create=True)
    with pytest.raises(ValueError, match="stop"), store.writer(bulk=100) as writer:
        writer.add(*document("a.txt", ["a 1", "a 2"]))
        raise ValueError("stop")
    assert _has_index(store) and len(store.documents()) == 1
    backend.close()


def _wait_for_no_advisory_locks(url: str) -> None:
    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() != (0,):
            assert time.monotonic() < deadline, "the killed loader's lock stayed"
            time.sleep(0.1)


WRITER = textwrap.dedent(
    """
    import sys
    from rag.pg.backend import PgBackend
    from tests.rag.synthetic import document, manifest

    store = PgBackend(sys.argv[1]).open("bulk", manifest(), create=True)
    with store.writer(bulk=100) as writer:
        for d in range(1000):
            writer.add(*document(f"d{d}.txt", [f"t{d} {i}" for i in range(20)], seed=d))
            print(d, flush=True)
    """
)


def test_a_bulk_load_killed_before_the_index_is_built_searches_exactly_and_gets_it_back(
    database_url: str,
) -> None:
    backend = PgBackend(database_url)
    reader = backend.open("bulk", manifest(), create=True)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, database_url], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if int(line) >= 4:  # five documents committed, the index still to come
                break
        # The loader holds the index lock: an open now leaves the index to it.
        other = PgBackend(database_url)
        assert not _has_index(other.open("bulk", manifest(), create=False))
        other.close()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert not _has_index(reader)
    committed = len(reader.documents())
    assert committed >= 5
    rng = np.random.default_rng(7)
    queries = rng.normal(size=(5, DIMENSION)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    for query in queries:  # no index: every search is exact
        assert [h.chunk_id for h in reader.search(query[None], 10)[0]] == _exact(reader, query, 10)
    some = [reader.documents()[0].id]
    filtered = reader.search(queries[0][None], 10, document_ids=some)[0]
    assert len(filtered) == 10 and {h.document_id for h in filtered} == set(some)
    _wait_for_no_advisory_locks(database_url)  # the killed loader's server process going away
    # The next open finds the index missing and nobody loading: it builds it.
    again = PgBackend(database_url)
    reopened = again.open("bulk", manifest(), create=False)
    assert _has_index(reopened) and _uses_index(reopened, queries[0])
    assert len(reopened.documents()) == committed
    for query in queries:  # 16-d, a few hundred rows: the graph finds the exact neighbours
        assert [h.chunk_id for h in reopened.search(query[None], 10)[0]] == _exact(reopened, query, 10)
    again.close()
    backend.close()


def test_a_missing_index_is_rebuilt_at_open_with_a_warning(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    backend = PgBackend(database_url, build=pg_index.BuildSettings(memory_mb=64, workers=0))
    store = backend.open("bulk", manifest(), create=True)
    with store.writer() as writer:
        writer.add(*document("a.txt", ["a 1", "a 2"]))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP INDEX "{store.schema_name}".{pg_index.INDEX_NAME}')
    with caplog.at_level("WARNING"):
        reopened = backend.open("bulk", manifest(), create=False)
    assert _has_index(reopened)
    assert "has no HNSW index (a bulk load was cut short); building it over 2 chunks" in caplog.text
    backend.close()


def test_an_index_built_at_open_holds_up_no_other_collection(
    database_url: str, settings: Any, embedder: Any
) -> None:
    """The build at open waits for the chunks table's writers; it ran under the library's one lock,
    so a search of any other collection (every API request) waited with it."""
    import threading

    from rag.library import Library

    first = Library(settings, embedder=embedder, backend=PgBackend(database_url))
    first.collection("a", create=True)
    schema = first.collection("b", create=True).schema_name  # type: ignore[attr-defined]
    first.close()
    library = Library(settings, embedder=embedder, backend=PgBackend(database_url))
    library.collection("a")
    with psycopg.connect(database_url) as writer:  # a document being written into b
        writer.execute(f'DROP INDEX "{schema}".{pg_index.INDEX_NAME}')
        writer.commit()
        writer.execute(f'LOCK TABLE "{schema}".chunks IN ROW EXCLUSIVE MODE')  # as its INSERT does
        opening_b = threading.Thread(target=library.collection, args=("b",))
        opening_b.start()
        time.sleep(0.5)  # b's open is waiting to build the index behind the writer
        assert opening_b.is_alive()
        other = threading.Thread(target=library.collection, args=("a",))
        other.start()
        other.join(5)
        blocked = other.is_alive()
        writer.commit()  # the document is written: the build goes on
    opening_b.join(30)
    other.join(30)
    try:
        assert not blocked, "opening b held up every other collection"
        with psycopg.connect(database_url, autocommit=True) as conn:
            assert pg_index.has_index(conn, schema)
        with pytest.raises(CollectionNotFound):
            library.collection("nie-ma")
        assert not library._opening  # the locks of names asked for go with their last user
    finally:
        library.close()


def test_an_index_build_that_fails_at_open_leaves_the_collection_searchable(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A build at open that fails (here the database's lock_timeout, behind a writer) raised out
    of open: the collection could not be searched at all, though exact scans answer meanwhile."""
    backend = PgBackend(database_url)
    store = backend.open("bulk", manifest(), create=True)
    with store.writer() as writer:
        writer.add(*document("a.txt", ["a 1", "a 2", "a 3"]))
    backend.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        database = conn.info.dbname
        conn.execute(f'ALTER DATABASE "{database}" SET lock_timeout = 300')  # an operator's choice
        conn.execute(f'DROP INDEX "{store.schema_name}".{pg_index.INDEX_NAME}')
    again = PgBackend(database_url)
    try:
        with psycopg.connect(database_url) as writer_conn:  # a document being written
            writer_conn.execute(f'LOCK TABLE "{store.schema_name}".chunks IN ROW EXCLUSIVE MODE')
            with caplog.at_level("WARNING"):
                reopened = again.open("bulk", manifest(), create=False)
            writer_conn.commit()
        assert "cannot build the HNSW index" in caplog.text
        assert not _has_index(reopened)
        query = np.ones(DIMENSION, dtype=np.float32) / np.sqrt(DIMENSION)
        assert [h.chunk_id for h in reopened.search(query[None], 3)[0]] == _exact(reopened, query, 3)
        assert _has_index(again.open("bulk", manifest(), create=False))  # the writer gone: built
    finally:
        again.close()
