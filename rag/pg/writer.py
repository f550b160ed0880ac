"""Writes to a PostgreSQL collection: one transaction per document, coordinated across machines
by advisory locks (shared on the collection, exclusive on the document's name), never by files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from rag.collection_writer import document_id_for, lexical_entry
from rag.errors import BadDocumentError, CollectionBusy, CollectionNotFound
from rag.pg.index import BulkReport
from rag.pg.lexical import postings
from rag.pg.store import words_json
from rag.store import StoredDocument
from rag.types import Chunk, DocumentInfo, Page, ParsedDocument

if TYPE_CHECKING:
    from rag.pg.store import PgStore

CHUNK_COLUMNS = (
    "id, document_id, ordinal, text, heading, first_page, last_page, char_start, char_end, tokens, "
    "length, terms, heading_terms, embedding"
)
CHUNK_TYPES = ["int8", "text", "int4", "text", "text"] + ["int4"] * 6 + ["text", "text", "vector"]


def collection_lock(name: str) -> int:
    """The 64-bit advisory lock key of a collection: writers share it, deleting the collection
    takes it alone."""
    return int.from_bytes(
        hashlib.sha256(f"polrag collection\0{name}".encode()).digest()[:8], "big", signed=True
    )


def document_lock(collection: str, file_name: str) -> tuple[int, int]:
    """The (int4, int4) advisory lock key of a document name in a collection (a key space of
    its own beside the 64-bit one)."""
    digest = hashlib.sha256(f"polrag document\0{collection}\0{file_name}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True), int.from_bytes(digest[4:8], "big", signed=True)


class PgWriter:
    """Adds, replaces and deletes documents; another process may write into the same collection
    at once (documents of the same name wait for each other)."""

    def __init__(self, store: PgStore) -> None:
        self._store = store
        self.bulk: BulkReport | None = None  # set by a bulk writer; the index build's time after exit

    def existing(self, file_name: str, sha256: str) -> DocumentInfo | None:
        document = self._store.find_by_name(file_name)
        return document if document is not None and document.sha256 == sha256 else None

    def add(
        self,
        document: ParsedDocument,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        *,
        source_path: str = "",
        original: Path | None = None,
    ) -> tuple[str, str]:
        lexical = [lexical_entry(chunk.text, chunk.heading, chunk.terms) for chunk in chunks]
        document_id = document_id_for(document.sha256, document.file_name)
        data = _read_original(original, document.sha256)
        with self._document(document.file_name) as conn:
            previous = self._store.find_by_name(document.file_name, conn)
            if previous is not None and previous.sha256 == document.sha256:
                self._put_original(conn, document.sha256, data)
                return "unchanged", previous.id
            if previous is not None:
                self._remove(conn, previous.id)
            info = DocumentInfo(
                document_id,
                document.file_name,
                document.media_type,
                document.sha256,
                len(document.pages),
                len(chunks),
                document.size_bytes,
                datetime.now(UTC).isoformat(timespec="seconds"),
                source_path,
            )
            self._put_original(conn, document.sha256, data)
            self._insert(conn, info, chunks, vectors, lexical, document.pages, None)
        return ("replaced" if previous else "added"), document_id

    def keep_original(self, sha256: str, original: Path | None) -> None:
        data = _read_original(original, sha256)
        if data is None:
            return
        with self._store.connection() as conn, conn.transaction():
            used = conn.execute(
                self._store._q("SELECT 1 FROM {s}.documents WHERE sha256 = %s LIMIT 1"), (sha256,)
            )
            if used.fetchone():
                self._put_original(conn, sha256, data)

    def _put_original(self, conn: psycopg.Connection[Any], sha256: str, data: bytes | None) -> None:
        if data is not None:
            conn.execute(
                self._store._q("INSERT INTO {s}.originals VALUES (%s, %s) ON CONFLICT (sha256) DO NOTHING"),
                (sha256, data),
            )

    def restore(self, stored: StoredDocument) -> None:
        info = stored.info
        with self._document(info.file_name) as conn:
            previous = self._store.find_by_name(info.file_name, conn)
            if previous is not None and previous.id == info.id:
                return
            if previous is not None:
                self._remove(conn, previous.id)
            self._put_original(conn, info.sha256, stored.original)
            self._insert(
                conn, info, stored.chunks, stored.vectors, stored.lexical, stored.pages, stored.chunk_ids
            )
            conn.execute(
                self._store._q(
                    "SELECT setval(pg_get_serial_sequence(%(t)s, 'id'), greatest("
                    "(SELECT max(id) FROM {s}.chunks), nextval(pg_get_serial_sequence(%(t)s, 'id'))))"
                ),
                {"t": f"{self._store.schema_name}.chunks"},
            )

    def delete(self, document_id: str) -> bool:
        document = self._store.document(document_id)
        if document is None:
            return False
        with self._document(document.file_name) as conn:
            if self._store._documents("d.id = %s", (document_id,), conn) == []:
                return False  # another process deleted it meanwhile
            self._remove(conn, document_id)
        return True

    def flush(self) -> None:
        """Nothing derived to save: the transaction stored everything."""

    # -- internals -----------------------------------------------------------------

    @contextmanager
    def _document(self, file_name: str) -> Iterator[psycopg.Connection[Any]]:
        """One document's transaction under its locks, in a collection that still exists."""
        store = self._store
        with store.connection() as conn, conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = {int(store.lock_timeout * 1000)}")
            try:
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (collection_lock(store.name),))
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", document_lock(store.name, file_name))
            except psycopg.errors.LockNotAvailable:
                raise CollectionBusy(
                    f"collection {store.name!r}: another writer held {file_name!r} for over "
                    f"{store.lock_timeout:g} s; try again"
                ) from None
            row = conn.execute(
                "SELECT schema_name FROM polrag.collections WHERE name = %s", (store.name,)
            ).fetchone()
            if row is None or row[0] != store.schema_name:
                raise CollectionNotFound(store.name, "the database")
            yield conn

    def _remove(self, conn: psycopg.Connection[Any], document_id: str) -> None:
        q = self._store._q
        count, length = conn.execute(
            q("SELECT count(*), coalesce(sum(length), 0) FROM {s}.chunks WHERE document_id = %s"),
            (document_id,),
        ).fetchone() or (0, 0)
        conn.execute(
            q("DELETE FROM {s}.postings p USING {s}.chunks c WHERE p.chunk_id = c.id AND c.document_id = %s"),
            (document_id,),
        )
        sha = conn.execute(
            q("DELETE FROM {s}.documents WHERE id = %s RETURNING sha256"), (document_id,)
        ).fetchone()
        if sha is not None:  # the original goes with the last document holding those bytes
            conn.execute(
                q(
                    "DELETE FROM {s}.originals o WHERE o.sha256 = %(sha)s "
                    "AND NOT EXISTS (SELECT 1 FROM {s}.documents d WHERE d.sha256 = %(sha)s)"
                ),
                {"sha": sha[0]},
            )
        conn.execute(
            q("UPDATE {s}.stats SET chunks = chunks - %s, total_length = total_length - %s"), (count, length)
        )

    def _insert(
        self,
        conn: psycopg.Connection[Any],
        info: DocumentInfo,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        lexical: Sequence[tuple[str, str]],
        pages: Sequence[Page],
        chunk_ids: Sequence[int] | None,
    ) -> None:
        q = self._store._q
        conn.execute(
            q(
                "INSERT INTO {s}.documents (id, file_name, media_type, sha256, pages, size_bytes, "
                "source_path, added_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (info.id, info.file_name, info.media_type, info.sha256, info.pages, info.size_bytes,
             info.source_path, info.added_at),
        )  # fmt: skip
        if chunk_ids is None:
            chunk_ids = [
                row[0]
                for row in conn.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    (f"{self._store.schema_name}.chunks", len(chunks)),
                )
            ]
        vectors = np.asarray(vectors, dtype=np.float32)
        total = 0
        with conn.cursor() as cursor:
            with cursor.copy(
                q(f"COPY {{s}}.chunks ({CHUNK_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)")
            ) as copy:
                copy.set_types(CHUNK_TYPES)
                for chunk_id, chunk, vector, (terms, heading_terms) in zip(
                    chunk_ids, chunks, vectors, lexical, strict=True
                ):
                    length = len(terms.split())
                    total += length
                    copy.write_row(
                        (chunk_id, info.id, chunk.ordinal, _text(chunk.text), _text(chunk.heading),
                         chunk.first_page, chunk.last_page, chunk.char_start, chunk.char_end,
                         chunk.token_count, length, terms, heading_terms, vector)
                    )  # fmt: skip
            with cursor.copy(
                q("COPY {s}.postings (term, chunk_id, tf, length) FROM STDIN WITH (FORMAT BINARY)")
            ) as copy:
                copy.set_types(["text", "int8", "int4", "int4"])
                for chunk_id, (terms, heading_terms) in zip(chunk_ids, lexical, strict=True):
                    length, counted = postings(terms, heading_terms)
                    for term, tf in counted:
                        copy.write_row((term, chunk_id, tf, length))
        conn.cursor().executemany(
            q(
                "INSERT INTO {s}.page_reads (document_id, page, method, confidence, words) "
                "VALUES (%s, %s, %s, %s, %s)"
            ),
            [
                (info.id, page.number, page.method, page.confidence, words_json(page))
                for page in pages
                if page.method != "text"
            ],
        )
        conn.cursor().executemany(
            q("INSERT INTO {s}.page_texts (document_id, page, start, text) VALUES (%s, %s, %s, %s)"),
            [(info.id, page.number, page.offset, _text(page.text.strip())) for page in pages],
        )
        conn.execute(
            q("UPDATE {s}.stats SET chunks = chunks + %s, total_length = total_length + %s"),
            (len(chunks), total),
        )


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; SQLite can. Cleaning should have removed it already.
    return value.replace("\x00", "")


def _read_original(path: Path | None, sha256: str) -> bytes | None:
    """The original's bytes, checked against the hash the document was parsed with."""
    if path is None:
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BadDocumentError("the file changed while it was being ingested; ingest it again")
    return data
