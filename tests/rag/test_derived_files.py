"""A damaged FAISS or BM25 file never makes a collection unopenable: it is rebuilt from the
catalogue with one warning, and written anew by the next save (issue 11, item 3)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from rag.collection import VECTORS, VECTORS_STATE, Collection
from rag.lexical_index import FILE as LEXICAL
from tests.rag.synthetic import DIMENSION, document, open_collection

TEXTS = {
    "las.txt": ["plan urządzenia lasu na dziesięć lat", "nadleśniczy prowadzi gospodarkę leśną"],
    "zolw.txt": ["żółw błotny żyje w starorzeczach", "samica składa jaja w wydmach"],
}


def build(index_dir: Path) -> dict[str, np.ndarray]:
    """A saved collection of two documents; their vectors by file name."""
    collection = open_collection(index_dir)
    vectors = {}
    with collection.writer() as writer:
        for seed, (name, texts) in enumerate(TEXTS.items()):
            parsed, chunks, vectors[name] = document(name, texts, seed=seed)
            writer.add(parsed, chunks, vectors[name])
    collection.close()
    return vectors


def _future_lexical(path: Path) -> None:
    with np.load(path) as data:
        arrays = dict(data)
    arrays["version"] = np.array(99)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _wider_lexical(path: Path) -> None:
    """Consistent-looking arrays whose matrix is wider than the vocabulary."""
    with np.load(path) as data:
        arrays = dict(data)
    rows, width = arrays["shape"]
    arrays["shape"] = np.array([rows, width + 5])
    arrays["indptr"] = np.concatenate([arrays["indptr"], np.repeat(arrays["indptr"][-1:], 5)])
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _other_dimension_vectors(path: Path) -> None:
    import faiss

    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION + 1))
    index.add_with_ids(np.eye(4, DIMENSION + 1, dtype=np.float32), np.arange(1, 5, dtype=np.int64))
    faiss.write_index(index, str(path))


def _future_vectors(path: Path) -> None:
    state = path.with_name(VECTORS_STATE)
    state.write_text(json.dumps({**json.loads(state.read_text()), "version": 99}))


def _unmapped_vectors(path: Path) -> None:
    """An index that keeps no ids: its positions would be taken for chunk ids."""
    import faiss

    index = faiss.IndexFlatIP(DIMENSION)
    index.add(np.eye(4, DIMENSION, dtype=np.float32))
    faiss.write_index(index, str(path))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "truncated": _truncate,
    "empty": lambda path: path.write_bytes(b""),
    "random bytes": lambda path: path.write_bytes(np.random.default_rng(1).bytes(4096)),
}
LEXICAL_DAMAGE = {**DAMAGE, "another dimension": _wider_lexical, "future version": _future_lexical}
VECTOR_DAMAGE = {
    **DAMAGE,
    "another dimension": _other_dimension_vectors,
    "future version": _future_vectors,
    "another index type": _unmapped_vectors,
}
CASES = [(LEXICAL, kind, damage) for kind, damage in LEXICAL_DAMAGE.items()] + [
    (VECTORS, kind, damage) for kind, damage in VECTOR_DAMAGE.items()
]


@pytest.mark.parametrize(("file", "kind", "damage"), CASES, ids=[f"{f}-{k}" for f, k, _ in CASES])
def test_a_damaged_derived_file_is_rebuilt_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, file: str, kind: str, damage: object
) -> None:
    vectors = build(tmp_path)
    path = tmp_path / "synt" / file
    damage(path)  # type: ignore[operator]
    with caplog.at_level(logging.WARNING):
        collection = open_collection(tmp_path)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert str(path) in warnings[0].getMessage() and "rebuilt from the catalogue" in warnings[0].getMessage()
    check_whole(collection, vectors)
    # The next write saves a good file again: the collection then opens without a warning.
    with collection.writer() as writer:
        parsed, chunks, more = document("nowy.txt", ["całkiem nowy tekst"], seed=9)
        writer.add(parsed, chunks, more)
    collection.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        reopened = open_collection(tmp_path)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    check_whole(reopened, {**vectors, "nowy.txt": more})
    reopened.close()


def check_whole(collection: Collection, vectors: dict[str, np.ndarray]) -> None:
    """Dense and BM25 search both find every chunk, and the indexes hold the catalogue's ids."""
    ids = np.sort(collection.catalog.chunk_ids())
    assert np.array_equal(np.sort(collection._index.ids()), ids)
    assert np.array_equal(np.sort(collection._lexical.chunk_ids()), ids)
    for name, document_vectors in vectors.items():
        hits = collection.search(document_vectors, 1)
        assert [row[0].file_name for row in hits] == [name] * len(document_vectors)
    assert [h.file_name for h in collection.lexical_search(["starorzeczach"], 3)] == ["zolw.txt"]
    assert [h.file_name for h in collection.lexical_search(["nadleśniczy"], 3)] == ["las.txt"]


def test_saved_files_are_synced_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both derived files (and the folder holding their new names) reach the disk before the
    writer returns: a power cut cannot leave a renamed but empty file."""
    collection = open_collection(tmp_path)
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with collection.writer() as writer:
        parsed, chunks, vectors = document("las.txt", TEXTS["las.txt"])
        writer.add(parsed, chunks, vectors)
    monkeypatch.undo()
    collection.close()
    folder = str(tmp_path / "synt")
    assert any(LEXICAL in name and name.endswith(".tmp") for name in synced), synced
    assert any(VECTORS in name and name.endswith(".tmp") for name in synced), synced
    assert synced.count(folder) >= 2


def test_a_bm25_file_from_an_older_analysis_is_not_used_after_the_upgrade(tmp_path: Path) -> None:
    """After polrag re-analyses a collection's chunks (a new analysis version), the BM25 file
    on disk still holds the old terms under the same chunk ids; a later open must not take it
    for current (comparing ids alone cannot tell)."""
    from rag.analysis import default_analyzer
    from rag.lexical_index import LexicalIndex

    build(tmp_path)
    collection = open_collection(tmp_path)
    ids = collection.catalog.chunk_ids()
    with collection.catalog.transaction() as db:  # terms as an older analyzer made them
        db.execute("UPDATE chunk_terms SET terms = 'stary', heading = ''")
        collection.catalog.set_meta(db, "analysis_version", "1")
    stale = LexicalIndex()
    stale.update(added=[(int(i), ["stary"], []) for i in ids])
    stale.save(tmp_path / "synt", collection.catalog.generation())
    collection.close()
    terms = default_analyzer().query_terms("starorzecza")
    upgraded = open_collection(tmp_path)  # re-analyses the chunks
    assert [h.file_name for h in upgraded.lexical_search(terms, 3)] == ["zolw.txt"]
    upgraded.close()
    reopened = open_collection(tmp_path)
    assert [h.file_name for h in reopened.lexical_search(terms, 3)] == ["zolw.txt"]
    assert reopened.lexical_search(["stary"], 3) == []
    reopened.close()


def test_a_save_removes_what_a_killed_save_left_behind(tmp_path: Path) -> None:
    # Review: each kill -9 during a save left its temporary FAISS or BM25 file for good (the
    # name holds the dead process's id, so no later save replaced it).
    build(tmp_path)
    folder = tmp_path / "synt"
    stale = [folder / f".{VECTORS}.999999.tmp", folder / f".{LEXICAL}.999999.1.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    collection = open_collection(tmp_path)
    with collection.writer() as writer:
        parsed, chunks, vectors = document("nowy.txt", ["nowy dokument o lesie"], seed=7)
        writer.add(parsed, chunks, vectors)
    collection.close()
    assert not any(path.exists() for path in stale)
    assert (folder / VECTORS).exists() and (folder / LEXICAL).exists()


def test_rows_another_process_re_analyses_stay_searchable_here(tmp_path: Path) -> None:
    # Review: another process re-analysing chunks (deleting their terms, then inserting them
    # again under the same ids, as an analysis upgrade does) made this process's catch-up remove
    # them and then add them back behind their removed ids: never found again.
    build(tmp_path)
    longer = open_collection(tmp_path)
    with longer.writer() as writer:  # enough rows that one removed is not merged away at once
        writer.add(*document("dlugi.txt", [f"rozdział {i} o lesie" for i in range(10)], seed=3))
    longer.close()
    here = open_collection(tmp_path)
    there = open_collection(tmp_path)
    (chunk_id, terms, heading), *_ = there.catalog.lexical_rows(there.catalog.lexical_ids()[:1])
    with there.catalog.transaction() as db:
        db.execute("DELETE FROM chunk_terms WHERE id = ?", (chunk_id,))
    assert chunk_id not in [hit.chunk_id for hit in here.lexical_search(terms.split(), 10)]
    with there.catalog.transaction() as db:
        db.execute("INSERT INTO chunk_terms(id, terms, heading) VALUES (?, ?, ?)", (chunk_id, terms, heading))
    assert chunk_id in [hit.chunk_id for hit in here.lexical_search(terms.split(), 10)]
    assert sorted(here._lexical.chunk_ids().tolist()) == sorted(here.catalog.chunk_ids().tolist())
    here.close()
    there.close()
