"""The cross-encoder reranker, run for real on a tiny random model built in the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ModelLoadError
from rag.reranker import Reranker
from rag.types import Hit


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory, minilm_path: str) -> str:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-reranker")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def hit(chunk_id: int, text: str) -> Hit:
    return Hit(chunk_id, "d", "f.pdf", 1, 1, text, 1.0 / chunk_id)


def test_rerank_scores_every_pair_and_sorts(tiny_cross_encoder: str) -> None:
    reranker = Reranker(tiny_cross_encoder, device="cpu")
    hits = [hit(1, "Plan urządzenia lasu."), hit(2, "Żółw błotny."), hit(3, "Podatek dochodowy.")]
    ranked = reranker.rerank("na ile lat plan urządzenia lasu", hits)
    assert sorted(h.chunk_id for h in ranked) == [1, 2, 3]
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    assert {h.chunk_id: h.extra["fused"] for h in ranked} == {1: 1.0, 2: 0.5, 3: 1 / 3}
    again = reranker.rerank("na ile lat plan urządzenia lasu", hits)
    assert [h.chunk_id for h in again] == [h.chunk_id for h in ranked]  # deterministic
    assert reranker.rerank("cokolwiek", []) == []


def test_missing_reranker_says_how_to_turn_it_off(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="POLRAG_RERANKER_MODEL= \\(empty\\)"):
        Reranker(str(tmp_path / "nie-ma"), device="cpu").warm_up()
