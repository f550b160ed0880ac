"""Reciprocal rank fusion and near-duplicate removal."""

from __future__ import annotations

import pytest

from rag.fusion import drop_near_duplicates, reciprocal_rank_fusion
from rag.types import Hit


def hit(chunk_id: int, text: str = "", score: float = 1.0) -> Hit:
    return Hit(chunk_id, "d", "f.pdf", 1, 1, text or f"tekst numer {chunk_id}", score)


def ranked(*chunk_ids: int) -> list[Hit]:
    """A list as a search returns it: best first, scores falling."""
    return [hit(chunk_id, score=1.0 - 0.1 * i) for i, chunk_id in enumerate(chunk_ids)]


def test_rrf_rewards_agreement_and_records_both_lists() -> None:
    dense = ranked(1, 2, 3)
    lexical = ranked(3, 4, 1)
    fused = reciprocal_rank_fusion({"dense": dense, "lexical": lexical})
    assert [h.chunk_id for h in fused[:2]] == [1, 3]  # in both lists
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 63)
    assert fused[0].extra["dense_rank"] == 1 and fused[0].extra["lexical_rank"] == 3
    assert {h.chunk_id for h in fused} == {1, 2, 3, 4}


def test_rrf_weights_shift_the_balance() -> None:
    dense, lexical = ranked(1, 2), ranked(2, 1)
    assert (
        reciprocal_rank_fusion({"dense": dense, "lexical": lexical}, weights={"dense": 0.5})[0].chunk_id == 2
    )
    assert (
        reciprocal_rank_fusion({"dense": dense, "lexical": lexical}, weights={"lexical": 0.5})[0].chunk_id
        == 1
    )


def test_tied_hits_share_a_rank_and_the_other_lists_choose_among_them() -> None:
    # "art. 30": every chunk under the heading Art. 30 ties in the legal-unit list, listed by id.
    unit = [hit(7, score=2.0), hit(8, score=2.0), hit(9, score=2.0), hit(3, score=1.0)]
    dense = ranked(9, 3, 7, 8)
    fused = reciprocal_rank_fusion({"unit": unit, "dense": dense}, k=10)
    assert [h.chunk_id for h in fused[:3]] == [9, 7, 8]
    assert [fused[i].extra["unit_rank"] for i in range(3)] == [1, 1, 1]
    assert next(h for h in fused if h.chunk_id == 3).extra["unit_rank"] == 4


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
