"""A collection's HNSW index: dropped for a bulk load, built once after it, rebuilt when missing.

pgvector's own advice for loading many rows: COPY them, then add the index, with
``maintenance_work_mem`` large enough for the graph and parallel maintenance workers. Inserting
into an HNSW index walks the graph for every row (about 95 chunks/s at 100k chunks of 768-d
here); one build over the loaded rows is many times faster.

The rule (see :func:`bulk_load`): a bulk load drops the index when the collection holds fewer
than :data:`BULK_DROP_BELOW` chunks or fewer than the load brings, and carries on without it
when it is already missing (an earlier bulk load was cut short). Otherwise the index stays: a
build runs at about 1,000 chunks/s here against 100-300 inserts/s through the graph, so a load
of fewer rows than are there saves little, and every reader would scan exactly meanwhile.

Who may build is decided by one session-level advisory lock per collection, held for the whole
bulk load and for any build. A process that dies mid-load lets its lock go with its connection;
the next :func:`ensure_index` (every open of the collection) or the rerun of the load finds the
index missing and the lock free, and builds it. While the index is missing, searches are exact
sequential scans: slower, never wrong.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

INDEX_NAME = "chunks_hnsw"
# A rebuild over 10k chunks takes seconds; a bulk load of many documents repays it at once.
BULK_DROP_BELOW = 10_000
# pgvector's graph per row: the halfvec (2 bytes a dimension) plus neighbour lists (m = 16:
# 32 at layer 0, 8-byte item pointers with distances) and element headers, rounded up.
GRAPH_BYTES_PER_ROW = 600


@dataclass(frozen=True, slots=True)
class BuildSettings:
    """How an index build may use the database machine."""

    memory_mb: int = 4096  # the most maintenance_work_mem a build asks for
    workers: int = 1  # max_parallel_maintenance_workers (the leader works too)


@dataclass(slots=True)
class BulkReport:
    """What a bulk load did with the index: dropped or kept, and the build's seconds."""

    dropped: bool = False
    build_s: float | None = None
    kept_because: str = field(default="")


def index_lock(name: str) -> int:
    """The 64-bit advisory lock key for building (or loading without) a collection's index."""
    digest = hashlib.sha256(f"polrag hnsw\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def create_index_sql(schema: sql.Identifier, dimension: int) -> sql.Composed:
    d = int(dimension)
    return sql.SQL(
        f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON {{s}}.chunks "
        f"USING hnsw ((embedding::halfvec({d})) halfvec_ip_ops)"
    ).format(s=schema)


def has_index(conn: psycopg.Connection[Any], schema_name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f'"{schema_name}".{INDEX_NAME}',)).fetchone()
    return row is not None and row[0] is not None


def chunk_count(conn: psycopg.Connection[Any], schema: sql.Identifier) -> int:
    row = conn.execute(sql.SQL("SELECT chunks FROM {}.stats").format(schema)).fetchone()
    return int(row[0]) if row else 0


def build_index(
    conn: psycopg.Connection[Any], schema_name: str, dimension: int, settings: BuildSettings
) -> float:
    """``CREATE INDEX`` over every row now in the table, in one transaction; returns seconds.

    Writers wait for it (the build holds a SHARE lock on the chunks); readers go on."""
    schema = sql.Identifier(schema_name)
    rows = chunk_count(conn, schema)
    need_mb = rows * (2 * int(dimension) + GRAPH_BYTES_PER_ROW) * 5 // 4 // 2**20
    memory_mb = max(64, min(settings.memory_mb, need_mb))
    if need_mb > settings.memory_mb:
        log.warning(
            "the HNSW graph of %d chunks needs about %d MB; POLRAG_HNSW_BUILD_MEMORY_MB allows %d, so "
            "the build spills and runs slower",
            rows,
            need_mb,
            settings.memory_mb,
        )
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(f"{memory_mb}MB")))
        conn.execute(sql.SQL("SET LOCAL max_parallel_maintenance_workers = {}").format(settings.workers))
        conn.execute(create_index_sql(schema, dimension))
    return time.perf_counter() - started


def ensure_index(
    conn: psycopg.Connection[Any], name: str, schema_name: str, dimension: int, settings: BuildSettings
) -> bool:
    """Build the index if it is missing and nobody is loading or building it; True if built.

    ``conn`` must be in autocommit mode (the advisory lock is the session's)."""
    if has_index(conn, schema_name):
        return False
    key = index_lock(name)
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    if not (row and row[0]):
        log.info("collection %s: a bulk load is running; searches scan exactly until it ends", name)
        return False
    try:
        if has_index(conn, schema_name):  # built by the holder we waited behind
            return False
        rows = chunk_count(conn, sql.Identifier(schema_name))
        log.warning(
            "collection %s has no HNSW index (a bulk load was cut short); building it over %d chunks",
            name,
            rows,
        )
        seconds = build_index(conn, schema_name, dimension, settings)
        log.info("collection %s: HNSW index built in %.1f s", name, seconds)
        return True
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


@contextmanager
def bulk_load(
    url: str,
    name: str,
    schema_name: str,
    dimension: int,
    settings: BuildSettings,
    *,
    incoming: int,
    lock_timeout: float,
) -> Iterator[BulkReport]:
    """Hold the collection's index lock while about ``incoming`` chunks are written; drop the
    index first when the collection is nearly empty or smaller than that, build it once at the end.

    A load that fails with an error still builds the index over what was committed; one cut
    short harder (a kill, Ctrl-C) leaves it to :func:`ensure_index` or to the rerun."""
    report = BulkReport()
    schema = sql.Identifier(schema_name)
    key = index_lock(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))  # one bulk load or build at a time
        try:
            rows = chunk_count(conn, schema)
            if not has_index(conn, schema_name):
                report.dropped = True  # an earlier load was cut short: carry on without it
            elif rows >= BULK_DROP_BELOW and incoming < rows:
                report.kept_because = f"the collection already holds {rows} chunks, {incoming} to come"
            else:
                report.dropped = _drop(conn, schema, lock_timeout)
                if not report.dropped:
                    report.kept_because = "readers or writers held the chunks table"
            if report.kept_because:
                log.info("collection %s: bulk load keeps the HNSW index (%s)", name, report.kept_because)
            try:
                yield report
            except Exception:
                if report.dropped:
                    report.build_s = build_index(conn, schema_name, dimension, settings)
                raise
            if report.dropped:
                report.build_s = build_index(conn, schema_name, dimension, settings)
                log.info("collection %s: HNSW index built in %.1f s", name, report.build_s)
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def _drop(conn: psycopg.Connection[Any], schema: sql.Identifier, lock_timeout: float) -> bool:
    """DROP INDEX waits for every reader of the table; give up after ``lock_timeout`` rather than
    queue every later search behind it."""
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout * 1000)}")
            conn.execute(sql.SQL(f"DROP INDEX IF EXISTS {{s}}.{INDEX_NAME}").format(s=schema))
    except psycopg.errors.LockNotAvailable:
        return False
    return True
