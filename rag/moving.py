"""Moving a collection between stores (folder <-> PostgreSQL) without re-embedding anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.errors import CollectionError
from rag.store import StoreBackend


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What a copy stored: documents and chunks written now, documents already there."""

    documents: int
    chunks: int
    already_there: int


def copy_collection(
    source: StoreBackend,
    target: StoreBackend,
    name: str,
    *,
    on_document: Callable[[str], None] | None = None,
) -> CopyReport:
    """Copy collection ``name`` from ``source`` to ``target``: document ids, chunk ids, vectors,
    analysed terms and OCR page reads kept as they are.

    One transaction per document, so an interrupted copy keeps what it wrote and running it
    again copies the rest. Written as a bulk load (see ``Store.writer``). A target collection
    holding documents the source does not hold is refused: chunk ids from two collections could collide.
    """
    origin = source.open(name, None, create=False)
    wanted = {info.id for info in origin.documents()}
    destination = target.open(name, origin.manifest, create=True)
    present = {info.id for info in destination.documents()}
    if extra := present - wanted:
        raise CollectionError(
            f"collection {name!r} in the target holds {len(extra)} document(s) the source does not; "
            "copy into a new collection name, or delete it there first"
        )
    documents = chunks = 0
    # Bulk: into an empty PostgreSQL collection the vectors go in without the HNSW index, which is
    # built once at the end (and again by the rerun, or the next open, if the copy is cut short).
    coming = origin.stats().chunks - destination.stats().chunks
    with destination.writer(bulk=max(1, coming)) as writer:
        for stored in origin.export():
            if stored.info.id in present:
                continue
            writer.restore(stored)
            documents += 1
            chunks += len(stored.chunk_ids)
            if on_document is not None:
                on_document(stored.info.file_name)
    return CopyReport(documents, chunks, len(present))
