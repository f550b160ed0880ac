"""Both stores rank a real Polish corpus alike: the eval set's acts, its questions, real
MiniLM vectors and the real analyser (lemmas, folded forms, legal headings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.analysis import default_analyzer
from rag.manifest import Manifest
from rag.store import Store
from rag.types import Hit
from tests.store.conftest import open_backend

DATA = Path(__file__).parents[1] / "data"
ACTS = [DATA / "eval" / f"DU_2020_poz{n}.pdf" for n in (5, 14, 16)] + sorted(DATA.glob("DU_2020_*.pdf"))


@pytest.fixture(scope="module")
def prepared(embedder):  # type: ignore[no-untyped-def]
    from ingest.chunking import ChunkingParams
    from ingest.prepare import FailedFile, prepare_file

    params = ChunkingParams(100, 20, embedder.max_passage_tokens)
    counter = embedder.token_counter()
    documents = []
    for path in ACTS:
        done = prepare_file(path, path.name, counter, params, 2**30)
        assert not isinstance(done, FailedFile), done
        vectors = embedder.encode_passages([chunk.text for chunk in done.chunks])
        documents.append((done.document, done.chunks, vectors))
    return documents


def _fill(store: Store, documents, *, bulk: int = 0) -> None:  # type: ignore[no-untyped-def]
    with store.writer(bulk=bulk) as writer:
        for document, chunks, vectors in documents:
            writer.add(document, chunks, vectors)


def _assert_alike(embedded: list[Hit], postgres: list[Hit], what: str) -> None:
    """Same scores at each rank (float32 against float64 arithmetic, halfvec candidates re-scored
    on full vectors); a chunk in both lists scores the same in both, so ids differ only among
    ties (within the tolerance, the k-th place included)."""
    assert len(embedded) == len(postgres), what
    mine_by_id = {hit.chunk_id: hit.score for hit in embedded}
    for mine, theirs in zip(embedded, postgres, strict=True):
        assert theirs.score == pytest.approx(mine.score, rel=1e-4, abs=1e-5), what
        if theirs.chunk_id in mine_by_id:
            assert theirs.score == pytest.approx(mine_by_id[theirs.chunk_id], rel=1e-4, abs=1e-5), what
    different = {hit.chunk_id for hit in embedded} ^ {hit.chunk_id for hit in postgres}
    assert len(different) <= 2, what  # at most one swap at the boundary


def test_both_stores_rank_the_eval_acts_alike(prepared, embedder, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    expected = Manifest(embedder.model_name, embedder.dimension, "", "", 100, 20, embedder.max_passage_tokens)
    backends = [open_backend(kind, tmp_path, request) for kind in ("embedded", "postgres")]
    try:
        stores = [backend.open("akty", expected, create=True) for backend in backends]
        # The PostgreSQL store twice: row by row through its HNSW index, and as a bulk load
        # (COPY without the index, built once at the end, as `collections copy` writes).
        stores.append(backends[1].open("akty-bulk", expected, create=True))
        for store, bulk in zip(stores, (0, 0, 10_000), strict=True):
            _fill(store, prepared, bulk=bulk)
        first, *others = stores
        from rag.pg.index import has_index  # psycopg only where PostgreSQL is tested

        with others[1].connection() as conn:  # type: ignore[attr-defined]
            assert has_index(conn, others[1].schema_name)  # type: ignore[attr-defined]
        for second in others:
            _compare(first, second, embedder)
        assert first.stats().chunks == others[1].stats().chunks
    finally:
        for backend in backends:
            backend.close()


def _compare(first: Store, second: Store, embedder) -> None:  # type: ignore[no-untyped-def]
    assert [c.id for c in first.documents()] == [c.id for c in second.documents()]
    analyzer = default_analyzer()
    questions = [
        json.loads(line)["question"] for line in (DATA / "eval" / "qa.jsonl").read_text("utf-8").splitlines()
    ]
    questions += ["art. 3 ust. 2", "§ 4", "rozdział 2"]  # legal units: the headings-only ranking
    some = [first.documents()[0].id]
    compared = 0
    for question in questions:
        words = analyzer.query_words(question)
        for filter_ in (None, some):
            _assert_alike(
                first.lexical_search(words, 10, document_ids=filter_),
                second.lexical_search(words, 10, document_ids=filter_),
                question,
            )
        if units := analyzer.unit_terms(question):
            _assert_alike(
                first.lexical_search(units, 10, headings_only=True),
                second.lexical_search(units, 10, headings_only=True),
                question,
            )
            compared += 1
        vector = embedder.encode_queries([question])
        for filter_ in (None, some):
            _assert_alike(
                first.search(vector, 10, document_ids=filter_)[0],
                second.search(vector, 10, document_ids=filter_)[0],
                question,
            )
    assert compared >= 3  # the legal-unit questions were compared too
    assert first.stats().chunks == second.stats().chunks > 100
