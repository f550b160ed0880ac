"""`polrag collections copy NAME --to …`: folder -> PostgreSQL -> folder, nothing re-embedded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def run(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_copy_to_postgres_and_back_keeps_ids_vectors_and_rankings(  # type: ignore[no-untyped-def]
    settings, real_pdfs: list[Path], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.embedded import EmbeddedBackend

    assert run("ingest", *map(str, real_pdfs), "--json", "--workers", "0")["added"] == 2
    query = ["search", "odpady zakaźne", "-k", "5", "--json"]
    before = run(*query)["hits"]
    documents = run("documents", "list", "--json")["documents"]

    copied = run("collections", "copy", "default", "--to", database_url, "--json")
    assert (copied["documents"], copied["already_there"]) == (2, 0)
    assert run("collections", "copy", "default", "--to", database_url, "--json")["already_there"] == 2

    monkeypatch.setenv("POLRAG_DATABASE_URL", database_url)
    assert run("documents", "list", "--json")["documents"] == documents  # ids, dates, counts
    from rag.pg.backend import PgBackend

    database = PgBackend(database_url)
    copied_store = database.open("default", None, create=False)
    for pdf in real_pdfs:  # the originals came along: pages can be drawn from the database
        assert copied_store.original(hashlib.sha256(pdf.read_bytes()).hexdigest()) == pdf.read_bytes()
    database.close()
    after = run(*query)["hits"]
    assert [h["chunk_id"] for h in after] == [h["chunk_id"] for h in before]
    assert [h["score"] for h in after] == pytest.approx([h["score"] for h in before], abs=1e-4)

    back = tmp_path / "back"
    assert run("collections", "copy", "default", "--to", str(back), "--json")["documents"] == 2
    original = EmbeddedBackend(settings.index_dir).open("default", None, create=False)
    returned = EmbeddedBackend(back).open("default", None, create=False)
    for mine, theirs in zip(original.export(), returned.export(), strict=True):
        assert (
            mine.info == theirs.info and mine.chunk_ids == theirs.chunk_ids and mine.lexical == theirs.lexical
        )
        assert np.array_equal(mine.vectors, theirs.vectors)  # float32 both ways: exact
    original.close()
    returned.close()


def test_copy_refuses_a_target_holding_other_documents(  # type: ignore[no-untyped-def]
    settings, real_pdfs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("ingest", str(real_pdfs[0]), "--json", "--workers", "0")
    other = tmp_path / "other"
    monkeypatch.setenv("POLRAG_INDEX_DIR", str(other))
    run("ingest", str(real_pdfs[1]), "--json", "--workers", "0")
    monkeypatch.setenv("POLRAG_INDEX_DIR", str(settings.index_dir))
    result = runner.invoke(app, ["collections", "copy", "default", "--to", str(other)])
    assert result.exit_code != 0
    assert "holds 1 document(s) the source does not" in str(result.exception)
