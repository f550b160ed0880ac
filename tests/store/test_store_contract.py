"""The store contract, run against every store: the embedded folder and PostgreSQL + pgvector."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest

from rag.errors import CollectionNotFound, EmbeddingMismatch
from rag.store import Store, StoreBackend
from rag.types import Chunk, OcrWord, Page, ParsedDocument
from tests.rag.synthetic import DIMENSION, document, manifest


def _open(backend: StoreBackend, name: str = "synt") -> Store:
    return backend.open(name, manifest(), create=True)


def test_documents_are_added_replaced_unchanged_and_deleted(backend: StoreBackend) -> None:
    store = _open(backend)
    parsed, chunks, vectors = document("a.txt", ["pierwszy akapit", "drugi akapit"])
    with store.writer() as writer:
        status, first_id = writer.add(parsed, chunks, vectors, source_path="/tmp/a.txt")
        assert status == "added"
        assert writer.existing("a.txt", parsed.sha256) is not None
        assert writer.add(parsed, chunks, vectors) == ("unchanged", first_id)
    info = store.document(first_id)
    assert info is not None and info.chunks == 2 and info.source_path == "/tmp/a.txt"
    assert [hit.text for hit in store.chunks_of(first_id)] == ["pierwszy akapit", "drugi akapit"]

    changed, chunks2, vectors2 = document("a.txt", ["nowy tekst"], seed=1)
    with store.writer() as writer:
        status, second_id = writer.add(changed, chunks2, vectors2)
    assert status == "replaced" and second_id != first_id
    assert [d.id for d in store.documents()] == [second_id]
    assert store.document(first_id) is None
    stats = store.stats()
    assert (stats.documents, stats.chunks, stats.vectors, stats.lexical_rows) == (1, 1, 1, 1)

    assert store.delete_document(second_id)
    assert not store.delete_document(second_id)
    assert store.documents() == [] and store.stats().chunks == 0
    assert store.search(vectors2, 5)[0] == []
    assert store.lexical_search(["nowy"], 5) == []


def test_dense_search_is_exact_inner_product_and_filters_keep_k_hits(backend: StoreBackend) -> None:
    store = _open(backend)
    rng = np.random.default_rng(7)
    all_vectors = {}
    with store.writer() as writer:
        for d in range(20):
            parsed, chunks, vectors = document(f"d{d}.txt", [f"tekst {d} {i}" for i in range(60)], seed=d)
            _, document_id = writer.add(parsed, chunks, vectors)
            all_vectors[document_id] = vectors
    query = rng.normal(size=(2, DIMENSION)).astype(np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    hits = store.search(query, 10)
    stacked = np.concatenate(list(all_vectors.values()))
    for row, found in zip(query, hits, strict=True):
        exact = np.sort(stacked @ row)[::-1][:10]
        assert np.allclose([hit.score for hit in found], exact, atol=1e-5)
    # One document of twenty: an HNSW scan without iterative scans stops at ef_search candidates,
    # of which about a twentieth are in it.
    wanted = sorted(all_vectors)[3]
    filtered = store.search(query, 40, document_ids=[wanted])
    for row, found in zip(query, filtered, strict=True):
        assert len(found) == 40 and {hit.document_id for hit in found} == {wanted}
        exact = np.sort(all_vectors[wanted] @ row)[::-1][:40]
        assert np.allclose([hit.score for hit in found], exact, atol=1e-5)
    assert store.search(query[:1], 5, document_ids=[])[0] == []


def test_lexical_search_filters_and_headings(backend: StoreBackend) -> None:
    store = _open(backend)
    parsed, chunks, vectors = document("a.txt", ["kot pies", "kot kot mysz", "ryba"])
    other, chunks2, vectors2 = document("b.txt", ["kot"], seed=3)
    with store.writer() as writer:
        _, a = writer.add(parsed, chunks, vectors)
        _, b = writer.add(other, chunks2, vectors2)
    assert {hit.document_id for hit in store.lexical_search(["kot"], 10)} == {a, b}
    only_b = store.lexical_search(["kot"], 10, document_ids=[b])
    assert [hit.document_id for hit in only_b] == [b]
    assert store.lexical_search([("pies", "mysz")], 10, document_ids=[a])[0].document_id == a
    assert store.lexical_search(["kot"], 10, headings_only=True) == []  # synthetic chunks have no headings


def test_ocr_page_reads_are_kept(backend: StoreBackend) -> None:
    store = _open(backend)
    word = OcrWord("Ustawa", 91.5, 0.1, 0.1, 0.3, 0.15)
    parsed, chunks, vectors = document("skan.pdf", ["Ustawa z dnia"])
    parsed = ParsedDocument(
        parsed.file_name,
        "application/pdf",
        parsed.sha256,
        (Page(1, "Ustawa z dnia", "ocr", 91.5, (word,)),),
        10,
    )
    with store.writer() as writer:
        _, document_id = writer.add(parsed, chunks, vectors)
    reads = store.page_reads(document_id)
    assert [(r.page, r.method, r.words) for r in reads] == [(1, "ocr", 1)]
    assert store.page_words(document_id, 1) == (word,)
    assert store.page_words(document_id, 2) == ()


def test_collections_are_listed_checked_and_deleted(backend: StoreBackend) -> None:
    store = _open(backend, "pierwsza")
    with pytest.raises(CollectionNotFound):
        backend.open("brak", manifest(), create=False)
    with pytest.raises(EmbeddingMismatch):
        backend.open("pierwsza", manifest(DIMENSION * 2), create=False)
    parsed, chunks, vectors = document("a.txt", ["tekst"])
    with store.writer() as writer:
        writer.add(parsed, chunks, vectors)
    _open(backend, "druga")
    assert backend.names() == ["druga", "pierwsza"]
    assert not backend.delete("pierwsza", only_if_empty=True)
    assert backend.delete("druga", only_if_empty=True)
    assert not store.gone()
    assert backend.delete("pierwsza")
    assert store.gone() and backend.names() == []
    with pytest.raises(CollectionNotFound):
        backend.delete("pierwsza")
    again = _open(backend, "pierwsza")  # made again under the same name: the old handle stays gone
    assert store.gone() and not again.gone() and again.documents() == []


def test_export_and_restore_keep_ids_vectors_and_terms(backend: StoreBackend, tmp_path: Path) -> None:
    from rag.embedded import EmbeddedBackend

    source = EmbeddedBackend(tmp_path / "source")
    original = _open(source)
    parsed, chunks, vectors = document("a.txt", ["kot pies", "ryba"])
    other, chunks2, vectors2 = document("b.txt", ["mysz"], seed=2)
    with original.writer() as writer:
        writer.add(parsed, chunks, vectors)
        writer.add(other, chunks2, vectors2)
    target = _open(backend, "kopia")
    with target.writer() as writer:
        for stored in original.export():
            writer.restore(stored)
    before = {s.info.id: s for s in original.export()}
    after = {s.info.id: s for s in target.export()}
    assert before.keys() == after.keys()
    for document_id, stored in before.items():
        copied = after[document_id]
        assert copied.chunk_ids == stored.chunk_ids and copied.lexical == stored.lexical
        assert np.array_equal(copied.vectors, stored.vectors)
        assert copied.info.sha256 == stored.info.sha256 and copied.info.added_at == stored.info.added_at
    assert [h.chunk_id for h in target.lexical_search(["kot"], 5)] == [
        h.chunk_id for h in original.lexical_search(["kot"], 5)
    ]
    # New chunks after a copy get ids past the copied ones.
    new, chunks3, vectors3 = document("c.txt", ["nowy"], seed=4)
    with target.writer() as writer:
        _, c = writer.add(new, chunks3, vectors3)
    assert target.chunks_of(c)[0].chunk_id > max(max(s.chunk_ids) for s in before.values())
    source.close()


def test_writers_in_threads_store_every_document(backend: StoreBackend) -> None:
    """Several writers at once (in one process here; tests/api covers processes)."""
    store = _open(backend)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with store.writer() as writer:
                for d in range(5):
                    parsed, chunks, vectors = document(
                        f"w{n}-{d}.txt", [f"watek {n} dokument {d}"], seed=n * 10 + d
                    )
                    writer.add(parsed, chunks, vectors)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.documents()) == 15 and store.stats().chunks == 15
    assert len(store.lexical_search(["watek"], 50)) == 15


def test_pages_passages_and_originals(backend: StoreBackend, tmp_path: Path) -> None:
    store = _open(backend)
    body = "Art. 1. Pierwsza strona.\nArt. 2. Druga strona."
    original = tmp_path / "akt.txt"
    original.write_bytes(body.encode())
    sha = hashlib.sha256(body.encode()).hexdigest()
    pages = (Page(1, "Art. 1. Pierwsza strona.", offset=0), Page(2, "Art. 2. Druga strona.", offset=25))
    parsed = ParsedDocument("akt.txt", "text/plain", sha, pages, len(body))
    chunks = [
        Chunk("", "akt.txt", 0, "Art. 1. Pierwsza strona.", 1, 1, 0, 24, terms="art 1 pierwszy strona"),
        Chunk("", "akt.txt", 1, "Art. 2. Druga strona.", 2, 2, 25, 46, terms="art 2 drugi strona"),
    ]
    vectors = np.eye(2, DIMENSION, dtype=np.float32)
    with store.writer() as writer:
        _, document_id = writer.add(parsed, chunks, vectors, original=original)
    assert store.original(sha) == body.encode()
    assert store.page_text(document_id, 2) == (25, "Art. 2. Druga strona.")
    assert store.page_text(document_id, 3) is None
    first, second = store.chunks_of(document_id)
    span = store.passage(second.chunk_id)
    assert span is not None and (span.first_page, span.char_start, span.char_end) == (2, 25, 46)
    assert [s.chunk_id for s in store.passages_near(document_id, 0, 1)] == [first.chunk_id, second.chunk_id]
    assert [s.chunk_id for s in store.passages_on_page(document_id, 1)] == [first.chunk_id]
    info = store.document(document_id)
    assert info is not None and info.read_by == "text"
    exported = next(iter(store.export()))
    assert exported.original == body.encode() and [p.offset for p in exported.pages] == [0, 25]
    assert store.delete_document(document_id)
    assert store.original(sha) is None  # gone with the last document holding those bytes
