"""Collections: idempotent ingest, replace, delete, manifest checks, locking, recovery."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import ingest_paths
from rag.collection import VECTORS, VECTORS_STATE, Collection, Manifest
from rag.errors import CollectionBusy, CollectionNotFound, EmbeddingMismatch

LAS = (
    "Plan urządzenia lasu sporządza się na 10 lat. Nadleśniczy prowadzi gospodarkę leśną "
    "w nadleśnictwie na podstawie planu urządzenia lasu. Lasy chroni się przed pożarami."
)
ZOLW = (
    "Żółw błotny jest gatunkiem chronionym w Polsce. Żyje w starorzeczach i bagnach. "
    "Samica składa jaja w piaszczystych wydmach."
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def consistent(collection: Collection) -> None:
    """FAISS and the lexical index hold exactly the catalogue's chunk ids."""
    faiss_ids = np.sort(collection._index.ids())
    catalogue_ids = np.sort(collection.catalog.chunk_ids())
    assert np.array_equal(faiss_ids, catalogue_ids)
    assert np.array_equal(np.sort(collection.catalog.lexical_ids()), catalogue_ids)
    assert np.array_equal(np.sort(collection._lexical.chunk_ids()), catalogue_ids)


def test_ingest_then_search_finds_the_right_passage(library, real_pdfs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    write(docs, "las.txt", LAS)
    write(docs, "zolw.md", "# Żółw\n\n" + ZOLW)
    report = ingest_paths(library, [docs, *real_pdfs], workers=0)
    assert report.failed == []
    assert sorted(report.added) == sorted(["las.txt", "zolw.md", *(p.name for p in real_pdfs)])
    hits = library.search("Gdzie żyje żółw błotny?", k=3)
    assert hits[0].file_name == "zolw.md"
    assert "starorzeczach" in hits[0].text or "chronionym" in hits[0].text
    pdf_hits = library.search("zaniechanie poboru podatku dochodowego spółek", k=3)
    assert pdf_hits[0].file_name == "DU_2020_poz12.pdf"
    assert pdf_hits[0].page == 1
    consistent(library.collection())


def test_reingest_unchanged_is_a_no_op(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "las.txt", LAS)
    first = ingest_paths(library, [path], workers=0)
    collection = library.collection()
    generation = collection.catalog.generation()
    second = ingest_paths(library, [path], workers=0)
    assert (first.added, second.unchanged, second.added, second.chunks) == (["las.txt"], ["las.txt"], [], 0)
    assert collection.catalog.generation() == generation


def test_changed_file_with_same_name_replaces_old_version(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "notatka.txt", LAS)
    ingest_paths(library, [path], workers=0)
    collection = library.collection()
    old = collection.documents()[0]
    write(tmp_path, "notatka.txt", ZOLW)
    report = ingest_paths(library, [path], workers=0)
    assert report.replaced == ["notatka.txt"]
    docs = collection.documents()
    assert len(docs) == 1 and docs[0].id != old.id
    assert collection.document(old.id) is None
    assert all(
        "Żółw" in hit.text or "jaja" in hit.text or "bagnach" in hit.text
        for hit in library.search("plan urządzenia lasu", k=5)
    )
    consistent(collection)


def test_a_copy_under_another_name_is_a_document_of_its_own(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(library, [write(tmp_path, "las.txt", LAS)], workers=0)
    copy = ingest_paths(library, [write(tmp_path, "kopia.txt", LAS)], workers=0)
    assert copy.added == ["kopia.txt"]
    collection = library.collection()
    docs = {doc.file_name: doc for doc in collection.documents()}
    assert set(docs) == {"las.txt", "kopia.txt"} and docs["las.txt"].id != docs["kopia.txt"].id
    # Changing or deleting one never takes the other's text with it.
    write(tmp_path, "las.txt", ZOLW)
    assert ingest_paths(library, [tmp_path / "las.txt"], workers=0).replaced == ["las.txt"]
    assert collection.delete_document(collection.documents()[1].id)  # las.txt (sorted by name)
    hits = library.search("plan urządzenia lasu", k=3)
    assert hits and {hit.file_name for hit in hits} == {"kopia.txt"}
    consistent(collection)


def test_new_bytes_equal_to_another_document_still_replace_the_old_version(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(library, [write(tmp_path, "a.txt", LAS), write(tmp_path, "b.txt", ZOLW)], workers=0)
    write(tmp_path, "a.txt", ZOLW)  # now the same bytes as b.txt
    assert ingest_paths(library, [tmp_path / "a.txt"], workers=0).replaced == ["a.txt"]
    assert all("plan urządzenia" not in hit.text for hit in library.search("plan urządzenia lasu", k=10))
    consistent(library.collection())


def test_two_files_of_one_batch_with_one_name_do_not_overwrite_each_other(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "dokumenty"
    first = write(docs / "s1", "notatka.txt", LAS)
    second = write(docs / "s2", "notatka.txt", ZOLW)
    report = ingest_paths(library, [docs / "s1", docs / "s2", first], workers=0)
    assert report.added == ["notatka.txt"] and report.replaced == []
    assert [f.path for f in report.failed] == [str(second)]
    assert "same name 'notatka.txt'" in report.failed[0].error and str(first) in report.failed[0].error
    assert "plan urządzenia" in library.search("plan urządzenia lasu", k=1)[0].text.lower()
    # Their common folder keeps both, each under its path.
    both = ingest_paths(library, [docs], workers=0)
    assert sorted(both.added) == ["s1/notatka.txt", "s2/notatka.txt"] and not both.failed


def test_a_file_name_that_is_not_utf8_is_stored_readably(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    (tmp_path / "dokumenty").mkdir()
    raw = os.fsencode(tmp_path / "dokumenty") + b"/ustawa_\xb1\xbf.txt"  # ISO-8859-2 "ąż" on a UTF-8 system
    with open(raw, "wb") as handle:
        handle.write(LAS.encode())
    report = ingest_paths(library, [tmp_path / "dokumenty"], workers=0)
    assert report.added == ["ustawa_\ufffd\ufffd.txt"] and not report.failed
    assert library.search("plan urządzenia lasu", k=1)[0].file_name == "ustawa_\ufffd\ufffd.txt"


def test_delete_removes_vectors_and_rows(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(library, [write(tmp_path, "a.txt", LAS), write(tmp_path, "b.txt", ZOLW)], workers=0)
    collection = library.collection()
    target = next(doc for doc in collection.documents() if doc.file_name == "a.txt")
    assert collection.delete_document(target.id)
    assert not collection.delete_document(target.id)
    assert [doc.file_name for doc in collection.documents()] == ["b.txt"]
    assert {hit.file_name for hit in library.search("plan urządzenia lasu", k=10)} == {"b.txt"}
    consistent(collection)
    # The deletion survives a reopen (the vector file was saved).
    library.close()
    consistent(library.collection())
    assert {hit.file_name for hit in library.search("lasy", k=10)} == {"b.txt"}


def test_search_can_be_limited_to_documents(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(library, [write(tmp_path, "a.txt", LAS), write(tmp_path, "b.txt", ZOLW)], workers=0)
    only_b = next(doc.id for doc in library.collection().documents() if doc.file_name == "b.txt")
    hits = library.search("plan urządzenia lasu", k=5, document_ids=[only_b])
    assert hits and {hit.file_name for hit in hits} == {"b.txt"}
    assert library.search("las", k=5, document_ids=["nope"]) == []


def test_other_embedding_model_is_refused(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(library, [write(tmp_path, "a.txt", LAS)], workers=0)
    other = Manifest("sdadas/mmlw-retrieval-roberta-large", 1024, "zapytanie: ", "", 320, 48, 509)
    with pytest.raises(EmbeddingMismatch) as error:
        Collection.open(library.settings.index_dir, "default", other)
    message = str(error.value)
    assert "mmlw-retrieval-roberta-large" in message and "POLRAG_EMBEDDING_MODEL" in message


def test_missing_collection_is_a_clear_error(library) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CollectionNotFound, match="collection 'nowhere' does not exist"):
        library.collection("nowhere")


def test_second_writer_fails_clearly_while_the_first_holds_the_lock(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    collection = library.collection(create=True)
    collection.lock_timeout = 0.3
    holding, release = threading.Event(), threading.Event()

    def first_writer() -> None:
        with collection.writer():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=first_writer)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(CollectionBusy, match="being written by another process"), collection.writer():
            pass
    finally:
        release.set()
        thread.join()
    with collection.writer():  # free again once the first writer is done
        pass


@pytest.mark.parametrize("damage", ["delete", "corrupt", "stale", "lexical"])
def test_lost_or_stale_vector_file_is_rebuilt_from_the_catalogue(library, tmp_path, damage) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(library, [write(tmp_path, "a.txt", LAS)], workers=0)
    folder = library.collection().folder
    stale = folder / "stale.faiss"
    shutil.copy(folder / VECTORS, stale)
    ingest_paths(library, [write(tmp_path, "b.txt", ZOLW)], workers=0)
    library.close()
    if damage == "delete":
        (folder / VECTORS).unlink()
    elif damage == "lexical":
        (folder / "lexical.npz").write_bytes(b"garbage")
    elif damage == "corrupt":
        (folder / VECTORS).write_bytes(b"not a faiss index")
    else:  # an older vector file with a state file that does not match the catalogue
        shutil.copy(stale, folder / VECTORS)
        (folder / VECTORS_STATE).write_text('{"generation": 1}')
    collection = library.collection()
    consistent(collection)
    assert {h.file_name for h in library.search("żółw błotny", k=10)} == {"a.txt", "b.txt"}
    assert [h.file_name for h in library.search("starorzecza bagna", k=1, mode="lexical")] == ["b.txt"]


def test_collection_without_lexical_index_gets_one_on_open(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Collections written before the BM25 index existed are analysed when opened."""
    ingest_paths(library, [write(tmp_path, "zolw.txt", ZOLW)], workers=0)
    collection = library.collection()
    with collection.catalog.transaction() as db:
        db.execute("DELETE FROM chunk_terms")
    assert library.search("starorzecza", k=1, mode="lexical") == []
    library.close()
    # An older analyzer's terms are replaced by the current analysis on open.
    collection = library.collection()
    with collection.catalog.transaction() as db:
        db.execute("UPDATE chunk_terms SET terms = 'stary'")
        collection.catalog.set_meta(db, "analysis_version", "1")
    library.close()
    hits = library.search("starorzecza", k=1, mode="lexical")
    assert [hit.file_name for hit in hits] == ["zolw.txt"]
    consistent(library.collection())


def test_reading_threads_do_not_leave_connections_open(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import gc
    import threading

    from rag.catalog import Catalog

    catalog = Catalog(tmp_path / "catalog.sqlite3")
    threads = [threading.Thread(target=catalog.chunk_count) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gc.collect()
    assert len(catalog._readers) == 0  # each closed with its thread
    assert catalog.chunk_count() == 0
    catalog.close()


def test_an_interrupt_right_after_commit_is_not_hidden_by_a_failed_rollback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C can arrive just after COMMIT returned; the interrupt must reach the caller."""
    from rag.catalog import Catalog

    catalog = Catalog(tmp_path / "catalog.sqlite3")
    real = catalog._write_db

    class InterruptedAfterCommit:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def execute(self, sql: str, *args: object) -> object:
            result = real.execute(sql, *args)
            if sql == "COMMIT":
                raise KeyboardInterrupt
            return result

    catalog._write_db = InterruptedAfterCommit()  # type: ignore[assignment]
    before = catalog.generation()
    with pytest.raises(KeyboardInterrupt), catalog.transaction():
        pass
    catalog._write_db = real
    assert catalog.generation() == before + 1  # committed, and the catalogue still writable
    with catalog.transaction():
        pass
    catalog.close()


# -- searches while a writer works (issue 11, items 1 and 4) ----------------------------


def _searching(
    collection: Collection, base_vectors: np.ndarray
) -> tuple[threading.Event, list[str], list[int]]:
    """Three threads searching (BM25 and dense) until the event is set; failures and count."""
    stop, failures, done = threading.Event(), [], [0]

    def read() -> None:
        while not stop.is_set():
            try:
                lexical = collection.lexical_search(["stały"], 5)
                dense = collection.search(base_vectors[:1], 1)
            except Exception as exc:  # noqa: BLE001 - the failure under test
                failures.append(repr(exc))
                return
            if [h.file_name for h in lexical] != ["baza.txt"] or dense[0][0].file_name != "baza.txt":
                failures.append(f"base document not found: {lexical}, {dense}")
                return
            done[0] += 1

    for _ in range(3):
        threading.Thread(target=read, daemon=True).start()
    return stop, failures, done


def test_searches_during_writes_and_saves_always_see_the_data(tmp_path: Path) -> None:
    from tests.rag.synthetic import document, open_collection

    collection = open_collection(tmp_path)
    base, chunks, base_vectors = document("baza.txt", ["stały tekst bazy"], seed=100)
    with collection.writer() as writer:
        writer.add(base, chunks, base_vectors)
    stop, failures, done = _searching(collection, base_vectors)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a loaded server does
    try:
        for batch in range(15):  # each batch ends with a save, which merges the BM25 segments
            with collection.writer() as writer:
                for i in range(4):
                    name = f"d{i}.txt"
                    writer.add(*document(name, [f"tekst {batch} {i}", f"inny {batch}"], seed=batch * 10 + i))
                if batch % 3 == 2:
                    writer.delete(collection.catalog.find_by_name("d0.txt").id)  # type: ignore[union-attr]
    finally:
        stop.set()
        sys.setswitchinterval(interval)
    time.sleep(0.2)
    assert not failures, failures[:3]
    assert done[0] > 0
    consistent(collection)
    collection.close()


def _blocked_until(event: threading.Event, entered: threading.Event, real):  # type: ignore[no-untyped-def]
    def wait_then_call(*args, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        assert event.wait(20)
        return real(*args, **kwargs)

    return wait_then_call


@pytest.mark.parametrize("step", ["catalogue transaction", "IVF training", "catch-up"])
def test_a_search_does_not_wait_for_a_slow_write_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """While the writer is inside a long step (a document's SQLite transaction, k-means of the
    IVF upgrade, re-diffing ids after another process wrote), searches answer at once."""
    import rag.vector_index
    from rag.catalog import Catalog
    from tests.rag.synthetic import document, open_collection

    collection = open_collection(tmp_path, ann_threshold=50)
    base, chunks, base_vectors = document("baza.txt", ["stały tekst bazy"], seed=100)
    with collection.writer() as writer:
        writer.add(base, chunks, base_vectors)
    release, entered = threading.Event(), threading.Event()
    if step == "catalogue transaction":
        monkeypatch.setattr(
            Catalog, "insert_document", _blocked_until(release, entered, Catalog.insert_document)
        )
    elif step == "IVF training":
        monkeypatch.setattr(rag.vector_index, "ivf_lists_for", _blocked_until(release, entered, lambda n: 2))
    else:  # another process wrote: the first search to notice catches up, the others go on
        other = open_collection(tmp_path)
        with other.writer() as writer:
            writer.add(*document("inny.txt", ["z innego procesu"], seed=7))
        other.close()
        monkeypatch.setattr(Catalog, "vectors_of", _blocked_until(release, entered, Catalog.vectors_of))

    def write() -> None:
        if step == "catch-up":
            collection.search(base_vectors[:1], 1)
            return
        with collection.writer() as writer:
            texts = [f"dokument {i} o czymś" for i in range(120)]
            writer.add(*document("duzy.txt", texts, seed=3))

    worker = threading.Thread(target=write)
    worker.start()
    try:
        assert entered.wait(20)
        started = time.monotonic()
        answers = {}

        def search() -> None:
            answers["lexical"] = collection.lexical_search(["stały"], 1)
            answers["dense"] = collection.search(base_vectors[:1], 1)

        reader = threading.Thread(target=search)
        reader.start()
        reader.join(5)
        waited = time.monotonic() - started
        assert not reader.is_alive(), f"a search waited for the {step}"
        assert [h.file_name for h in answers["lexical"]] == ["baza.txt"]
        assert answers["dense"][0][0].file_name == "baza.txt"
        assert waited < 5
    finally:
        release.set()
        worker.join(30)
    consistent(collection)
    collection.close()


def test_a_writer_that_gets_the_lock_after_another_process_deleted_the_collection_stores_nothing_silently(
    library, settings, embedder, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from rag.library import Library

    # A batch opened the collection, then waited for its lock while another process deleted it
    # (polrag collections delete, or a batch of its own that failed whole and removed it).
    target = library.collection("kasacja", create=True)
    other = Library(settings, embedder=embedder)
    try:
        assert other.delete_collection("kasacja")
    finally:
        other.close()
    with pytest.raises(CollectionNotFound), target.writer():
        pass
    # Nothing recreated under the deleted name (a folder with only a lock file in it).
    assert not (settings.index_dir / "kasacja").exists()
    # A batch after the delete makes the collection anew and keeps what it stores.
    report = ingest_paths(
        library, [write(tmp_path / "docs", "las.txt", LAS)], collection="kasacja", workers=0
    )
    assert report.added == ["las.txt"]
    assert library.search("plan urządzenia lasu", collection="kasacja", k=1)[0].file_name == "las.txt"
