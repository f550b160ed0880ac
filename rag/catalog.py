"""The SQLite catalogue of a collection: documents, chunks and their vectors.

The catalogue is the source of truth. Vectors are kept here too (float32 blobs), so the
FAISS file can always be rebuilt or caught up after a crash.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag.types import Chunk, ChunkSpan, DocumentInfo, Hit, OcrWord, Page, PageRead

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    file_name TEXT NOT NULL UNIQUE,
    media_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    pages INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    source_path TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_sha ON documents(sha256);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- FAISS ids: never reused after a delete
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading TEXT NOT NULL,
    first_page INTEGER,
    last_page INTEGER,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id, ordinal);
-- Analysed terms (lemmas + folded forms) per chunk, written in the same transaction as the
-- chunk: the in-memory BM25 index is rebuilt or caught up from here, never the other way.
CREATE TABLE IF NOT EXISTS chunk_terms (
    id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    terms TEXT NOT NULL,
    heading TEXT NOT NULL
);
-- Pages read by OCR: mean word confidence and the words with their boxes (JSON rows of
-- [text, confidence, left, top, right, bottom], fractions of the page) for a page view.
CREATE TABLE IF NOT EXISTS page_reads (
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    page INTEGER,
    method TEXT NOT NULL,
    confidence REAL,
    words TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS page_reads_document ON page_reads(document_id, page);
-- Each page's cleaned text and where it starts in the document's text (chunks' char_start and
-- char_end count in that text), for the text view and for finding a passage on its page.
CREATE TABLE IF NOT EXISTS page_texts (
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    page INTEGER,
    start INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS page_texts_document ON page_texts(document_id, page);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0');
"""
HIT_QUERY = (
    "SELECT c.id, c.document_id, d.file_name, c.first_page, c.last_page, c.text, c.heading, c.ordinal "
    "FROM chunks c JOIN documents d ON d.id = c.document_id"
)
DOCUMENT_COLUMNS = (
    "d.id, d.file_name, d.media_type, d.sha256, d.pages, d.size_bytes, d.added_at, d.source_path, "
    "(SELECT COUNT(*) FROM page_reads r WHERE r.document_id = d.id AND r.method = 'ocr')"
)
SPAN_COLUMNS = "id, document_id, ordinal, first_page, last_page, char_start, char_end, text"


class _Reader:
    """One thread's reading connection."""

    __slots__ = ("__weakref__", "db")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db


class Catalog:
    """A collection's catalogue: one connection for writes, one per reading thread.

    With WAL, readers never block and never see a transaction before it commits; a
    connection shared between threads would show its open transaction to all of them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._write_db = self._connect()
        self._write_db.executescript(SCHEMA)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._readers_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's reading connection (closed when the thread ends)."""
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = _Reader(self._connect())
            # Thread-local values die with their thread; the connection goes with them.
            weakref.finalize(reader, reader.db.close)
            self._local.reader = reader
            with self._readers_lock:
                self._readers.add(reader)
        return reader.db

    def close(self) -> None:
        with self._readers_lock:
            for reader in list(self._readers):
                reader.db.close()
            self._readers.clear()
        self._local = threading.local()
        self._write_db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; bumps the generation so other processes notice the change."""
        with self._write_lock:
            db = self._write_db
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
                db.execute("COMMIT")
            except BaseException:
                # Ctrl-C can land just after COMMIT returned (or before BEGIN did): then there
                # is nothing to roll back, and ROLLBACK's own error would hide the interrupt.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def read(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:  # type: ignore[type-arg]
        """Rows of one read on this thread's connection (for modules reading the catalogue)."""
        return self._db.execute(sql, params).fetchall()

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0])

    # -- documents ---------------------------------------------------------------

    def find_by_name(self, file_name: str) -> DocumentInfo | None:
        return self._one_document("d.file_name = ?", file_name)

    def get_document(self, document_id: str) -> DocumentInfo | None:
        return self._one_document("d.id = ?", document_id)

    def list_documents(self) -> list[DocumentInfo]:
        rows = self._db.execute(
            f"SELECT {DOCUMENT_COLUMNS}, COUNT(c.id) FROM documents d "
            "LEFT JOIN chunks c ON c.document_id = d.id GROUP BY d.id ORDER BY d.file_name"
        ).fetchall()
        return [DocumentInfo.from_row(row) for row in rows]

    def insert_document(
        self,
        db: sqlite3.Connection,
        document_id: str,
        *,
        file_name: str,
        media_type: str,
        sha256: str,
        pages: int,
        size_bytes: int,
        source_path: str,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        lexical: Sequence[tuple[str, str]],
        page_reads: Sequence[Page] = (),
        chunk_ids: Sequence[int] | None = None,
        added_at: str | None = None,
    ) -> list[int]:
        """Insert a document and its chunks inside ``db``'s open transaction; returns chunk ids.

        ``lexical`` holds each chunk's analysed (terms, heading terms) for the BM25 index;
        ``chunk_ids`` and ``added_at`` keep those of a document copied from another store.
        """
        db.execute(
            "INSERT INTO documents(id, file_name, media_type, sha256, pages, size_bytes, "
            "source_path, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document_id,
                file_name,
                media_type,
                sha256,
                pages,
                size_bytes,
                source_path,
                added_at or datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        ids = []
        given = list(chunk_ids) if chunk_ids is not None else [None] * len(chunks)
        for chunk, vector, given_id in zip(chunks, vectors, given, strict=True):
            cursor = db.execute(
                "INSERT INTO chunks(id, document_id, ordinal, text, heading, first_page, last_page, "
                "char_start, char_end, tokens, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    given_id,
                    document_id,
                    chunk.ordinal,
                    chunk.text,
                    chunk.heading,
                    chunk.first_page,
                    chunk.last_page,
                    chunk.char_start,
                    chunk.char_end,
                    chunk.token_count,
                    np.asarray(vector, dtype=np.float32).tobytes(),
                ),
            )
            ids.append(int(cursor.lastrowid or 0))
        db.executemany(
            "INSERT INTO chunk_terms(id, terms, heading) VALUES (?, ?, ?)",
            [(chunk_id, terms, heading) for chunk_id, (terms, heading) in zip(ids, lexical, strict=True)],
        )
        db.executemany(
            "INSERT INTO page_reads(document_id, page, method, confidence, words) VALUES (?, ?, ?, ?, ?)",
            [
                (document_id, page.number, page.method, page.confidence, _words_json(page.words))
                for page in page_reads
                if page.method != "text"
            ],
        )
        db.executemany(
            "INSERT INTO page_texts(document_id, page, start, text) VALUES (?, ?, ?, ?)",
            [(document_id, page.number, page.offset, page.text.strip()) for page in page_reads],
        )
        return ids

    def page_text(self, document_id: str, page: int | None) -> tuple[int, str] | None:
        """(start in the document's text, cleaned text) of one page; None when not stored
        (no such page, or a collection made before page texts were kept)."""
        row = self._db.execute(
            "SELECT start, text FROM page_texts WHERE document_id = ? AND page IS ? ORDER BY start LIMIT 1",
            (document_id, page),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def chunk(self, chunk_id: int) -> ChunkSpan | None:
        """Where one chunk lies: its document, pages and span in the document's text."""
        row = self._db.execute(f"SELECT {SPAN_COLUMNS} FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
        return ChunkSpan(*row) if row else None

    def chunks_on_page(self, document_id: str, page: int) -> list[ChunkSpan]:
        """The document's chunks on ``page`` (starting, ending or running over it), in order."""
        rows = self._db.execute(
            f"SELECT {SPAN_COLUMNS} FROM chunks WHERE document_id = ? AND first_page <= ? AND last_page >= ? "
            "ORDER BY ordinal",
            (document_id, page, page),
        )
        return [ChunkSpan(*row) for row in rows]

    def neighbours(self, document_id: str, ordinal: int, around: int) -> list[ChunkSpan]:
        """The chunks ``around`` ordinals either side of ``ordinal`` (and it), in order."""
        rows = self._db.execute(
            f"SELECT {SPAN_COLUMNS} FROM chunks WHERE document_id = ? AND ordinal BETWEEN ? AND ? "
            "ORDER BY ordinal",
            (document_id, ordinal - around, ordinal + around),
        )
        return [ChunkSpan(*row) for row in rows]

    def sha256_used(self, sha256: str) -> bool:
        """Whether any document still has these bytes (and so needs its original)."""
        row = self._db.execute("SELECT 1 FROM documents WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone()
        return row is not None

    def sha256s(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT DISTINCT sha256 FROM documents")}

    def page_reads(self, document_id: str) -> list[PageRead]:
        """The document's OCR'd pages in page order (pages read from the text layer have none)."""
        rows = self._db.execute(
            "SELECT page, method, confidence, json_array_length(words) FROM page_reads "
            "WHERE document_id = ? ORDER BY page",
            (document_id,),
        )
        return [PageRead(row[0], row[1], row[2], row[3] or 0) for row in rows]

    def page_records(self, document_id: str) -> tuple[Page, ...]:
        """Every stored page (text, offset, and how it was read), in page order: page texts and
        OCR reads joined (a collection made before page texts were kept has its OCR'd pages only)."""
        reads = {
            page: (method, confidence, tuple(OcrWord(*word) for word in json.loads(words)))
            for page, method, confidence, words in self._db.execute(
                "SELECT page, method, confidence, words FROM page_reads WHERE document_id = ?", (document_id,)
            )
        }
        texts = self._db.execute(
            "SELECT page, start, text FROM page_texts WHERE document_id = ? ORDER BY start", (document_id,)
        ).fetchall()
        pages = [
            Page(page, text, *reads.pop(page, ("text", None, ())), offset=start)
            for page, start, text in texts
        ]
        pages += [Page(page, "", *read) for page, read in reads.items()]
        return tuple(pages)

    def page_words(self, document_id: str, page: int) -> tuple[OcrWord, ...]:
        """The words OCR read on one page, with their boxes; () for a page read from its text layer."""
        row = self._db.execute(
            "SELECT words FROM page_reads WHERE document_id = ? AND page = ?", (document_id, page)
        ).fetchone()
        return tuple(OcrWord(*word) for word in json.loads(row[0])) if row else ()

    def delete_document(self, db: sqlite3.Connection, document_id: str) -> list[int]:
        """Delete a document inside ``db``'s transaction; returns the ids of its chunks."""
        ids = [row[0] for row in db.execute("SELECT id FROM chunks WHERE document_id = ?", (document_id,))]
        db.executemany("DELETE FROM chunk_terms WHERE id = ?", [(i,) for i in ids])
        db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        db.execute("DELETE FROM page_reads WHERE document_id = ?", (document_id,))
        db.execute("DELETE FROM page_texts WHERE document_id = ?", (document_id,))
        db.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        return ids

    # -- chunks ------------------------------------------------------------------

    def lexical_rows(self, chunk_ids: np.ndarray) -> list[tuple[int, str, str]]:
        """(id, terms, heading terms) of the given chunks, for the in-memory BM25 index."""
        rows: list[tuple[int, str, str]] = []
        ids = [int(i) for i in chunk_ids]
        for start in range(0, len(ids), 900):
            part = ids[start : start + 900]
            marks = ",".join("?" * len(part))
            rows.extend(
                self._db.execute(f"SELECT id, terms, heading FROM chunk_terms WHERE id IN ({marks})", part)
            )
        return rows

    def lexical_ids(self) -> np.ndarray:
        rows = self._db.execute("SELECT id FROM chunk_terms").fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def chunks_missing_lexical(self, limit: int = 5000) -> list[tuple[int, str, str]]:
        """(id, text, heading) of chunks without a lexical entry: collections made before it."""
        return self._db.execute(
            "SELECT id, text, heading FROM chunks WHERE id NOT IN (SELECT id FROM chunk_terms) LIMIT ?",
            (limit,),
        ).fetchall()

    def lexical_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunk_terms").fetchone()[0])

    def chunk_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def chunk_ids(self) -> np.ndarray:
        rows = self._db.execute("SELECT id FROM chunks").fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def chunk_ids_of(self, document_ids: Iterable[str]) -> np.ndarray:
        wanted = list(document_ids)
        if not wanted:
            return np.zeros(0, dtype=np.int64)
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(f"SELECT id FROM chunks WHERE document_id IN ({marks})", wanted)
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def vectors_of(self, chunk_ids: np.ndarray, dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of the given chunks that still exist."""
        found_ids: list[int] = []
        blobs: list[bytes] = []
        ids = [int(i) for i in chunk_ids]
        for start in range(0, len(ids), 900):  # SQLite's bound-variable limit
            part = ids[start : start + 900]
            marks = ",".join("?" * len(part))
            for chunk_id, blob in self._db.execute(
                f"SELECT id, vector FROM chunks WHERE id IN ({marks})", part
            ):
                found_ids.append(chunk_id)
                blobs.append(blob)
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, dimension)
        return np.asarray(found_ids, dtype=np.int64), vectors

    def hits(self, chunk_ids: Sequence[int], scores: Sequence[float]) -> list[Hit]:
        """Hits for chunk ids in the given order; ids deleted meanwhile are skipped."""
        if not chunk_ids:
            return []
        marks = ",".join("?" * len(chunk_ids))
        rows = self._db.execute(f"{HIT_QUERY} WHERE c.id IN ({marks})", [int(i) for i in chunk_ids])
        by_id = {row[0]: row for row in rows}
        return [
            _hit(by_id[int(chunk_id)], float(score))
            for chunk_id, score in zip(chunk_ids, scores, strict=True)
            if int(chunk_id) in by_id
        ]

    def chunks_of(self, document_id: str) -> list[Hit]:
        rows = self._db.execute(f"{HIT_QUERY} WHERE c.document_id = ? ORDER BY c.ordinal", (document_id,))
        return [_hit(row, 0.0) for row in rows]

    def _one_document(self, where: str, value: str) -> DocumentInfo | None:
        row = self._db.execute(
            f"SELECT {DOCUMENT_COLUMNS}, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) "
            f"FROM documents d WHERE {where}",
            (value,),
        ).fetchone()
        return DocumentInfo.from_row(row) if row else None


def _hit(row: tuple, score: float) -> Hit:  # type: ignore[type-arg]
    chunk_id, document_id, file_name, first_page, last_page, text, heading, ordinal = row
    return Hit(chunk_id, document_id, file_name, first_page, last_page, text, score, heading, ordinal)


def _words_json(words: Sequence[OcrWord]) -> str:
    return json.dumps(
        [[w.text, w.confidence, w.left, w.top, w.right, w.bottom] for w in words], ensure_ascii=False
    )
