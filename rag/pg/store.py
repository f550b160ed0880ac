"""One collection in PostgreSQL: reads and searches (writes in :mod:`rag.pg.writer`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from psycopg import sql

from rag.errors import CollectionNotFound, StoreUnavailable
from rag.manifest import Manifest
from rag.pg import lexical
from rag.pg.index import BuildSettings, bulk_load
from rag.store import StoredDocument, StoreStats, Terms
from rag.types import Chunk, ChunkSpan, DocumentInfo, Hit, OcrWord, Page, PageRead

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from rag.pg.writer import PgWriter

DOCUMENT_COLUMNS = (
    "d.id, d.file_name, d.media_type, d.sha256, d.pages, d.size_bytes, d.added_at, d.source_path, "
    "(SELECT count(*) FROM {s}.page_reads r WHERE r.document_id = d.id AND r.method = 'ocr')"
)
SPAN_COLUMNS = "id, document_id, ordinal, first_page, last_page, char_start, char_end, text"
HITS = "{s}.chunks c JOIN {s}.documents d ON d.id = c.document_id"
HIT_COLUMNS = "c.id, c.document_id, d.file_name, c.first_page, c.last_page, c.text, c.heading, c.ordinal"


class PgStore:
    """A collection held in schema ``schema_name``; every replica may open it at once.

    Nothing is kept locally but the pool's connections: each search reads what is committed."""

    def __init__(
        self,
        pool: ConnectionPool,
        name: str,
        schema_name: str,
        manifest: Manifest,
        *,
        ef_search: int = 200,
        lock_timeout: float = 60.0,
        build: BuildSettings | None = None,
    ) -> None:
        self.pool = pool
        self.name = name
        self.schema_name = schema_name
        self.schema = sql.Identifier(schema_name)
        self.manifest = manifest
        self.ef_search = ef_search
        self.lock_timeout = lock_timeout
        self.build = build or BuildSettings()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in a transaction; the schema dropped meanwhile is CollectionNotFound."""
        try:
            with pooled(self.pool) as conn:
                yield conn
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            raise CollectionNotFound(self.name, "the database") from None

    def _q(self, query: str) -> sql.Composed:
        return sql.SQL(query).format(s=self.schema)

    # -- catalogue ---------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        return self._documents("TRUE ORDER BY d.file_name", ())

    def document(self, document_id: str) -> DocumentInfo | None:
        found = self._documents("d.id = %s", (document_id,))
        return found[0] if found else None

    def find_by_name(
        self, file_name: str, conn: psycopg.Connection[Any] | None = None
    ) -> DocumentInfo | None:
        found = self._documents("d.file_name = %s", (file_name,), conn)
        return found[0] if found else None

    def _documents(
        self, where: str, params: Sequence[object], conn: psycopg.Connection[Any] | None = None
    ) -> list[DocumentInfo]:
        query = self._q(
            f"SELECT {DOCUMENT_COLUMNS}, (SELECT count(*) FROM {{s}}.chunks c WHERE c.document_id = d.id) "
            f"FROM {{s}}.documents d WHERE {where}"
        )
        if conn is not None:
            rows = conn.execute(query, params).fetchall()
        else:
            with self.connection() as own:
                rows = own.execute(query, params).fetchall()
        return [DocumentInfo.from_row(row) for row in rows]

    def chunks_of(self, document_id: str) -> list[Hit]:
        with self.connection() as conn:
            rows = conn.execute(
                self._q(f"SELECT {HIT_COLUMNS} FROM {HITS} WHERE c.document_id = %s ORDER BY c.ordinal"),
                (document_id,),
            ).fetchall()
        return [_hit(row, 0.0) for row in rows]

    def page_reads(self, document_id: str) -> list[PageRead]:
        with self.connection() as conn:
            rows = conn.execute(
                self._q(
                    "SELECT page, method, confidence, jsonb_array_length(words) FROM {s}.page_reads "
                    "WHERE document_id = %s ORDER BY page"
                ),
                (document_id,),
            ).fetchall()
        return [PageRead(row[0], row[1], row[2], row[3] or 0) for row in rows]

    def page_words(self, document_id: str, page: int) -> tuple[OcrWord, ...]:
        with self.connection() as conn:
            row = conn.execute(
                self._q("SELECT words FROM {s}.page_reads WHERE document_id = %s AND page = %s"),
                (document_id, page),
            ).fetchone()
        return tuple(OcrWord(*word) for word in row[0]) if row else ()

    def page_text(self, document_id: str, page: int | None) -> tuple[int, str] | None:
        row = self._one(
            "SELECT start, text FROM {s}.page_texts WHERE document_id = %s AND page IS NOT DISTINCT FROM %s "
            "ORDER BY start LIMIT 1",
            (document_id, page),
        )
        return (int(row[0]), str(row[1])) if row else None

    def passage(self, chunk_id: int) -> ChunkSpan | None:
        row = self._one(f"SELECT {SPAN_COLUMNS} FROM {{s}}.chunks WHERE id = %s", (chunk_id,))
        return ChunkSpan(*row) if row else None

    def passages_near(self, document_id: str, ordinal: int, around: int) -> list[ChunkSpan]:
        return self._spans(
            "document_id = %s AND ordinal BETWEEN %s AND %s",
            (document_id, ordinal - around, ordinal + around),
        )

    def passages_on_page(self, document_id: str, page: int) -> list[ChunkSpan]:
        return self._spans(
            "document_id = %s AND first_page <= %s AND last_page >= %s", (document_id, page, page)
        )

    def original(self, sha256: str) -> bytes | None:
        row = self._one("SELECT bytes FROM {s}.originals WHERE sha256 = %s", (sha256,))
        return bytes(row[0]) if row else None

    def _one(self, query: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        with self.connection() as conn:
            return conn.execute(self._q(query), params).fetchone()

    def _spans(self, where: str, params: Sequence[object]) -> list[ChunkSpan]:
        with self.connection() as conn:
            rows = conn.execute(
                self._q(f"SELECT {SPAN_COLUMNS} FROM {{s}}.chunks WHERE {where} ORDER BY ordinal"), params
            ).fetchall()
        return [ChunkSpan(*row) for row in rows]

    def stats(self) -> StoreStats:
        with self.connection() as conn:
            documents, chunks = conn.execute(
                self._q("SELECT (SELECT count(*) FROM {s}.documents), (SELECT count(*) FROM {s}.chunks)")
            ).fetchone() or (0, 0)
        # One table holds catalogue and indexes: they never disagree.
        return StoreStats(documents, chunks, chunks, chunks)

    # -- search ------------------------------------------------------------------

    def search(
        self, query_vectors: np.ndarray, k: int, *, document_ids: Sequence[str] | None = None
    ) -> list[list[Hit]]:
        """HNSW over halfvec with iterative scans, so a filter still yields ``k`` hits; the
        candidates are re-scored on the full vectors and sorted strictly."""
        d = self.manifest.dimension
        where = "WHERE c.document_id = ANY(%(documents)s)" if document_ids is not None else ""
        query = self._q(
            "WITH nearest AS MATERIALIZED ("
            f" SELECT c.id, c.embedding <#> %(q)s::vector({d}) AS distance FROM {{s}}.chunks c {where}"
            f" ORDER BY c.embedding::halfvec({d}) <#> %(q)s::vector({d})::halfvec({d})"
            " LIMIT %(candidates)s)"
            f" SELECT {HIT_COLUMNS}, -n.distance FROM nearest n JOIN {{s}}.chunks c ON c.id = n.id"
            " JOIN {s}.documents d ON d.id = c.document_id ORDER BY n.distance, c.id LIMIT %(k)s"
        )
        # Half precision may swap neighbours whose scores differ in the fourth digit: twice the
        # candidates, re-scored on the full vectors, keep the k-th place exact.
        candidates = max(2 * k, k + 10)
        results = []
        with self.connection() as conn:
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            conn.execute(
                sql.SQL("SET LOCAL hnsw.ef_search = {}").format(max(self.ef_search, min(candidates, 1000)))
            )
            for vector in np.asarray(query_vectors, dtype=np.float32):
                params: dict[str, object] = {"q": vector, "k": k, "candidates": candidates}
                if document_ids is not None:
                    params["documents"] = list(document_ids)
                rows = conn.execute(query, params).fetchall()
                results.append([_hit(row[:8], float(row[8])) for row in rows])
        return results

    def lexical_search(
        self,
        terms: Terms,
        k: int,
        *,
        document_ids: Sequence[str] | None = None,
        headings_only: bool = False,
    ) -> list[Hit]:
        if not terms or k < 1:
            return []
        query = lexical.search_sql(self.schema, filtered=document_ids is not None)
        params = lexical.search_params(terms, k, headings_only=headings_only, document_ids=document_ids)
        with self.connection() as conn:
            ranked = conn.execute(query, params).fetchall()
            if not ranked:
                return []
            rows = conn.execute(
                self._q(f"SELECT {HIT_COLUMNS} FROM {HITS} WHERE c.id = ANY(%s)"),
                ([row[0] for row in ranked],),
            ).fetchall()
        by_id = {row[0]: row for row in rows}
        return [_hit(by_id[chunk_id], float(score)) for chunk_id, score in ranked if chunk_id in by_id]

    # -- writing -----------------------------------------------------------------

    @contextmanager
    def writer(self, *, bulk: int = 0) -> Iterator[PgWriter]:
        """``bulk``: about how many chunks follow (a copy, a first import); into a nearly empty
        collection, or one holding fewer than will come, they are loaded without the HNSW index,
        which is built once on exit (:mod:`rag.pg.index`). ``writer.bulk`` then says what was
        done with the index."""
        from rag.pg.writer import PgWriter

        if not bulk:
            yield PgWriter(self)
            return
        conninfo = self.pool.conninfo
        url = conninfo() if callable(conninfo) else conninfo
        dimension = self.manifest.dimension
        with bulk_load(
            url,
            self.name,
            self.schema_name,
            dimension,
            self.build,
            incoming=bulk,
            lock_timeout=self.lock_timeout,
        ) as report:
            writer = PgWriter(self)
            writer.bulk = report
            yield writer

    def delete_document(self, document_id: str) -> bool:
        with self.writer() as writer:
            return writer.delete(document_id)

    def export(self) -> Iterator[StoredDocument]:
        for info in self.documents():
            yield self._stored(info)

    def _stored(self, info: DocumentInfo) -> StoredDocument:
        with self.connection() as conn:
            rows = conn.execute(
                self._q(
                    "SELECT id, ordinal, text, heading, first_page, last_page, char_start, char_end, tokens, "
                    "embedding, terms, heading_terms FROM {s}.chunks WHERE document_id = %s "
                    "ORDER BY ordinal, id"
                ),
                (info.id,),
            ).fetchall()
            read = conn.execute(
                self._q("SELECT page, method, confidence, words FROM {s}.page_reads WHERE document_id = %s"),
                (info.id,),
            ).fetchall()
            texts = conn.execute(
                self._q("SELECT page, start, text FROM {s}.page_texts WHERE document_id = %s ORDER BY start"),
                (info.id,),
            ).fetchall()
            original = conn.execute(
                self._q("SELECT bytes FROM {s}.originals WHERE sha256 = %s"), (info.sha256,)
            ).fetchone()
        reads = {
            page: (method, confidence, tuple(OcrWord(*w) for w in words))
            for page, method, confidence, words in read
        }
        pages = [
            Page(page, text, *reads.pop(page, ("text", None, ())), offset=start)
            for page, start, text in texts
        ]
        pages += [Page(page, "", *how) for page, how in reads.items()]
        dimension = self.manifest.dimension
        return StoredDocument(
            info=info,
            chunk_ids=tuple(int(row[0]) for row in rows),
            chunks=tuple(
                Chunk(info.id, info.file_name, o, text, first, last, start, end, heading, tokens)
                for _, o, text, heading, first, last, start, end, tokens, *_ in rows
            ),
            vectors=np.asarray([row[9].to_numpy() for row in rows], dtype=np.float32).reshape(-1, dimension),
            lexical=tuple((row[10], row[11]) for row in rows),
            pages=tuple(pages),
            original=bytes(original[0]) if original else None,
        )

    # -- change tracking -----------------------------------------------------------

    def refresh(self) -> None:
        """Nothing to catch up with: every read sees what is committed."""

    def gone(self) -> bool:
        with pooled(self.pool) as conn:
            row = conn.execute(
                "SELECT schema_name FROM polrag.collections WHERE name = %s", (self.name,)
            ).fetchone()
        return row is None or row[0] != self.schema_name

    def close(self) -> None:
        """The pool belongs to the backend, which closes it."""


@contextmanager
def pooled(pool: ConnectionPool) -> Iterator[psycopg.Connection[Any]]:
    """A connection of ``pool`` (committed on success); an unreachable database, or none free in
    time, is StoreUnavailable (503), not a server error."""
    from psycopg_pool import PoolTimeout

    try:
        with pool.connection() as conn:
            yield conn
    except PoolTimeout:
        raise StoreUnavailable(
            f"all {pool.max_size} database connections stayed busy; try again (POLRAG_DATABASE_POOL_SIZE)"
        ) from None
    except psycopg.OperationalError as exc:
        if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StoreUnavailable(f"the database is unreachable: {first}") from None


def _hit(row: Sequence[Any], score: float) -> Hit:
    chunk_id, document_id, file_name, first_page, last_page, text, heading, ordinal = row
    return Hit(chunk_id, document_id, file_name, first_page, last_page, text, score, heading, ordinal)


def words_json(page: Page) -> str:
    return json.dumps(
        [[w.text, w.confidence, w.left, w.top, w.right, w.bottom] for w in page.words], ensure_ascii=False
    )
