"""Originals are durable before the commit that needs them and go after the one that drops them."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import BadDocumentError
from tests.rag.synthetic import document, open_collection


def test_original_is_stored_before_the_catalogue_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = open_collection(tmp_path)
    parsed, chunks, vectors = document("a.txt", ["pierwszy akapit", "drugi akapit"])
    source = tmp_path / "a.txt"
    source.write_text("\n".join(["pierwszy akapit", "drugi akapit"]))
    seen_at_commit: list[bool] = []
    insert = collection.catalog.insert_document

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen_at_commit.append(collection.originals.has(parsed.sha256))
        return insert(*args, **kwargs)

    monkeypatch.setattr(collection.catalog, "insert_document", spy)
    with collection.writer() as writer:
        writer.add(parsed, chunks, vectors, original=source)
    assert seen_at_commit == [True]
    assert collection.originals.get(parsed.sha256) == source.read_bytes()
    collection.close()


def test_a_file_changed_since_it_was_parsed_is_not_stored(tmp_path: Path) -> None:
    collection = open_collection(tmp_path)
    parsed, chunks, vectors = document("a.txt", ["pierwszy akapit"])
    source = tmp_path / "a.txt"
    source.write_text("zmieniony po przeczytaniu")
    with collection.writer() as writer, pytest.raises(BadDocumentError, match="changed"):
        writer.add(parsed, chunks, vectors, original=source)
    assert collection.documents() == []
    assert collection.originals.stored() == set()
    assert list(collection.originals.folder.iterdir()) == []  # no temporary left either
    collection.close()


def test_a_failed_commit_leaves_an_orphan_that_the_next_writer_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = open_collection(tmp_path)
    parsed, chunks, vectors = document("a.txt", ["pierwszy akapit"])
    source = tmp_path / "a.txt"
    source.write_text("pierwszy akapit")

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(collection.catalog, "insert_document", crash)
        with collection.writer() as writer, pytest.raises(OSError):
            writer.add(parsed, chunks, vectors, original=source)
    assert collection.documents() == [] and collection.originals.has(parsed.sha256)
    with collection.writer():
        pass
    assert not collection.originals.has(parsed.sha256)
    collection.close()
