"""Collections in one PostgreSQL database: open, list, delete (see :mod:`rag.pg` for the layout)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from rag.analysis import ANALYSIS_VERSION
from rag.errors import CollectionError, CollectionNotFound, StoreUnavailable
from rag.manifest import Manifest, creation_stamp
from rag.pg.index import BuildSettings, ensure_index, has_index
from rag.pg.reanalyse import reanalyse_if_stale
from rag.pg.schema import SCHEMA_VERSION, create_collection, migrate
from rag.pg.store import PgStore, pooled
from rag.pg.writer import collection_lock
from rag.settings import check_collection_name

log = logging.getLogger(__name__)


def _configure(conn: psycopg.Connection[Any]) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)
    conn.commit()  # the type lookup opened a transaction: a pooled connection must come back idle


class PgBackend:
    """Collections as schemas of one database; any number of processes on any machines share it."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        ef_search: int = 200,
        lock_timeout: float = 60.0,
        build: BuildSettings | None = None,
    ) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self.ef_search = ef_search
        self.lock_timeout = lock_timeout
        self.build = build or BuildSettings()
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                migrate(conn)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach POLRAG_DATABASE_URL: {_first_line(exc)}") from None
        except psycopg.errors.FeatureNotSupported as exc:  # pragma: no cover - depends on the server
            raise CollectionError(f"the database lacks pgvector: {_first_line(exc)}") from None
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, configure=_configure, open=True)

    def open(self, name: str, expected: Manifest | None, *, create: bool) -> PgStore:
        check_collection_name(name)
        row = self._row(name)
        if row is None:
            if not create or expected is None:
                raise CollectionNotFound(name, "the database")
            row = self._create(name, expected)
        schema_name, manifest_data = row
        manifest = Manifest(**manifest_data)
        if expected is not None:
            manifest.check_compatible(expected, name)
        # A bulk load cut short left the collection without its HNSW index: build it now, unless
        # a load or build is still running (searches are exact meanwhile).
        with pooled(self.pool) as conn:
            indexed = has_index(conn, schema_name)
        if not indexed:
            try:
                with psycopg.connect(self.url, autocommit=True) as own:  # the lock is the session's
                    ensure_index(own, name, schema_name, manifest.dimension, self.build)
            except psycopg.Error as exc:
                # A lock_timeout behind a writer, no room for the graph: searches scan exactly
                # and the next open tries again, rather than the collection not opening at all.
                log.warning("collection %s: cannot build the HNSW index now: %s", name, _first_line(exc))
        return PgStore(
            self.pool,
            name,
            schema_name,
            manifest,
            ef_search=self.ef_search,
            lock_timeout=self.lock_timeout,
            build=self.build,
        )

    def names(self) -> list[str]:
        with pooled(self.pool) as conn:
            return [row[0] for row in conn.execute("SELECT name FROM polrag.collections ORDER BY name")]

    def delete(self, name: str, *, only_if_empty: bool = False) -> bool:
        """Waits for documents being written (their transactions hold the collection's lock shared)."""
        check_collection_name(name)
        with pooled(self.pool) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (collection_lock(name),))
            row = conn.execute(
                "SELECT schema_name FROM polrag.collections WHERE name = %s", (name,)
            ).fetchone()
            if row is None:
                raise CollectionNotFound(name, "the database")
            schema = sql.Identifier(row[0])
            if (
                only_if_empty
                and conn.execute(sql.SQL("SELECT 1 FROM {}.documents LIMIT 1").format(schema)).fetchone()
            ):
                return False
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))
            conn.execute("DELETE FROM polrag.collections WHERE name = %s", (name,))
        return True

    def sweep(self) -> None:
        """Nothing: a deletion is one transaction, whole or not at all."""

    def close(self) -> None:
        self.pool.close()

    def _row(self, name: str) -> tuple[str, dict[str, Any]] | None:
        with pooled(self.pool) as conn:
            row = conn.execute(
                "SELECT schema_name, manifest, analysis_version FROM polrag.collections WHERE name = %s",
                (name,),
            ).fetchone()
            if row is not None and row[2] != str(ANALYSIS_VERSION):
                conn.commit()  # the lock it takes must end with its own transaction
                reanalyse_if_stale(conn, name)
        return (row[0], row[1]) if row else None

    def _create(self, name: str, expected: Manifest) -> tuple[str, dict[str, Any]]:
        stamped = asdict(expected) | {"created_at": creation_stamp()}
        with pooled(self.pool) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (collection_lock(name),))
            row = conn.execute(
                "SELECT schema_name, manifest FROM polrag.collections WHERE name = %s", (name,)
            ).fetchone()
            if row is not None:  # another process made it while we waited
                return row[0], row[1]
            schema_name = f"c_{uuid.uuid4().hex}"
            create_collection(conn, schema_name, expected.dimension)
            conn.execute(
                "INSERT INTO polrag.collections "
                "(name, schema_name, manifest, schema_version, analysis_version) VALUES (%s, %s, %s, %s, %s)",
                (name, schema_name, Jsonb(stamped), SCHEMA_VERSION, str(ANALYSIS_VERSION)),
            )
        log.info("collection %s created in PostgreSQL (schema %s)", name, schema_name)
        return schema_name, stamped


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
