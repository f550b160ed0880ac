"""Reciprocal rank fusion and near-duplicate removal."""

from __future__ import annotations

import pytest

from rag.fusion import drop_near_duplicates, reciprocal_rank_fusion
from rag.types import Hit


def hit(chunk_id: int, text: str = "", score: float = 1.0) -> Hit:
    return Hit(chunk_id, "d", "f.pdf", 1, 1, text or f"tekst numer {chunk_id}", score)


def test_rrf_rewards_agreement_and_records_both_lists() -> None:
    dense = [hit(1), hit(2), hit(3)]
    lexical = [hit(3), hit(4), hit(1)]
    fused = reciprocal_rank_fusion({"dense": dense, "lexical": lexical})
    assert [h.chunk_id for h in fused[:2]] == [1, 3]  # in both lists
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 63)
    assert fused[0].extra["dense_rank"] == 1 and fused[0].extra["lexical_rank"] == 3
    assert {h.chunk_id for h in fused} == {1, 2, 3, 4}


def test_rrf_weights_shift_the_balance() -> None:
    dense, lexical = [hit(1), hit(2)], [hit(2), hit(1)]
    assert (
        reciprocal_rank_fusion({"dense": dense, "lexical": lexical}, weights={"dense": 0.5})[0].chunk_id == 2
    )
    assert (
        reciprocal_rank_fusion({"dense": dense, "lexical": lexical}, weights={"lexical": 0.5})[0].chunk_id
        == 1
    )


def test_near_duplicates_keep_the_better_ranked_passage() -> None:
    base = "Plan urządzenia lasu sporządza się na dziesięć lat z uwzględnieniem warunków gospodarki"
    hits = [
        hit(1, base),
        hit(2, "Żółw błotny żyje w Polsce."),
        hit(3, base + " leśnej"),
        hit(4, base.upper()),
    ]
    assert [h.chunk_id for h in drop_near_duplicates(hits)] == [1, 2]
    assert [h.chunk_id for h in drop_near_duplicates(hits, threshold=1.01)] == [1, 2, 3, 4]
