"""A stored document read back whole from the SQLite catalogue, for copying it to another store."""

from __future__ import annotations

import numpy as np

from rag.catalog import Catalog
from rag.store import StoredDocument
from rag.types import Chunk, DocumentInfo


def stored_document(
    catalog: Catalog, info: DocumentInfo, dimension: int, original: bytes | None = None
) -> StoredDocument:
    """``info``'s chunks, vectors, analysed terms and pages as the catalogue holds them, with
    its ``original`` file."""
    rows = catalog.read(
        "SELECT c.id, c.ordinal, c.text, c.heading, c.first_page, c.last_page, c.char_start, c.char_end, "
        "c.tokens, c.vector, t.terms, t.heading FROM chunks c LEFT JOIN chunk_terms t ON t.id = c.id "
        "WHERE c.document_id = ? ORDER BY c.ordinal, c.id",
        (info.id,),
    )
    chunks = tuple(
        Chunk(info.id, info.file_name, ordinal, text, first, last, start, end, heading, tokens)
        for _, ordinal, text, heading, first, last, start, end, tokens, *_ in rows
    )
    vectors = np.frombuffer(b"".join(row[9] for row in rows), dtype=np.float32).reshape(-1, dimension)
    return StoredDocument(
        info=info,
        chunk_ids=tuple(int(row[0]) for row in rows),
        chunks=chunks,
        vectors=vectors.copy(),
        lexical=tuple((row[10] or "", row[11] or "") for row in rows),
        pages=catalog.page_records(info.id),
        original=original,
    )
