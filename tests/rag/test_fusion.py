"""Reciprocal rank fusion, convex fusion of normalised scores, and near-duplicate removal."""

from __future__ import annotations

import pytest

from rag.fusion import convex_fusion, drop_near_duplicates, normalise_scores, reciprocal_rank_fusion
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


def scored(*pairs: tuple[int, float]) -> list[Hit]:
    return [hit(chunk_id, score=score) for chunk_id, score in pairs]


EVEN = {"dense": 0.5, "lexical": 0.5}


def test_convex_lets_a_far_ahead_dense_hit_beat_an_rrf_tie() -> None:
    # Dense is sure of chunk 5 (cosine 0.95 against a pack near 0.60); BM25 ranks chunk 2 first by
    # a hair. RRF sees two mirror-image rank pairs, ties them and lets the smaller id win; the
    # scores do not tie.
    dense = scored((5, 0.95), (2, 0.61), (3, 0.60), (4, 0.59))
    lexical = scored((2, 12.1), (5, 12.0), (3, 4.0), (4, 3.0))
    rrf = reciprocal_rank_fusion({"dense": dense, "lexical": lexical}, k=10)
    assert rrf[0].score == rrf[1].score and rrf[0].chunk_id == 2
    for normalisation in ("minmax", "theoretical", "zscore"):
        fused = convex_fusion({"dense": dense, "lexical": lexical}, weights=EVEN, normalisation=normalisation)
        assert fused[0].chunk_id == 5, normalisation
        assert fused[0].score > fused[1].score
    # Min-max: chunk 5 has 0.5 x 1 + 0.5 x (12.0 - 3.0) / (12.1 - 3.0).
    fused = convex_fusion({"dense": dense, "lexical": lexical}, weights=EVEN)
    assert fused[0].score == pytest.approx(0.5 + 0.5 * 9.0 / 9.1)
    assert fused[0].extra == {"dense": 0.95, "dense_rank": 1.0, "lexical": 12.0, "lexical_rank": 2.0}


def test_convex_alpha_moves_the_balance_between_lists() -> None:
    dense, lexical = scored((1, 0.9), (2, 0.5)), scored((2, 9.0), (1, 1.0))
    lean_dense = convex_fusion({"dense": dense, "lexical": lexical}, weights={"dense": 0.7, "lexical": 0.3})
    lean_lexical = convex_fusion({"dense": dense, "lexical": lexical}, weights={"dense": 0.3, "lexical": 0.7})
    assert [h.chunk_id for h in lean_dense] == [1, 2]
    assert [h.chunk_id for h in lean_lexical] == [2, 1]


def test_convex_hit_missing_from_a_list_gets_that_lists_floor() -> None:
    dense = scored((1, 0.9), (2, 0.8), (3, 0.7))
    lexical = scored((4, 10.0), (2, 5.0), (1, 1.0))
    fused = {h.chunk_id: h for h in convex_fusion({"dense": dense, "lexical": lexical}, weights=EVEN)}
    assert set(fused) == {1, 2, 3, 4}
    assert fused[3].score == pytest.approx(0.0)  # dense's last place, and no BM25 score
    assert fused[4].score == pytest.approx(0.5)  # BM25's best, and no dense score
    assert "dense" not in fused[4].extra and fused[4].extra["lexical_rank"] == 1.0
    # Theoretical min-max: the floor is the scoring function's (cosine -1, BM25 0), not the list's.
    theory = convex_fusion({"dense": dense, "lexical": lexical}, weights=EVEN, normalisation="theoretical")
    by_id = {h.chunk_id: h.score for h in theory}
    assert by_id[3] == pytest.approx(0.5 * 1.7 / 1.9)
    assert by_id[1] == pytest.approx(0.5 + 0.5 * 0.1)
    # z-score: missing counts as the list's last place, not as its mean (z = 0).
    z = {
        h.chunk_id: h.score
        for h in convex_fusion({"dense": dense, "lexical": lexical}, weights=EVEN, normalisation="zscore")
    }
    values, missing = normalise_scores([10.0, 5.0, 1.0], "zscore")
    assert missing == min(values) < 0
    assert z[3] == pytest.approx(0.5 * normalise_scores([0.9, 0.8, 0.7], "zscore")[0][2] + 0.5 * missing)


def test_convex_ties_and_a_unit_list_of_equal_scores() -> None:
    # Every chunk under "Art. 30" ties in the legal-unit list: members get 1, others 0, and the
    # dense and lexical terms choose among them. Equal fused scores keep chunk-id order.
    unit = scored((7, 3.2), (8, 3.2), (9, 3.2))
    dense = scored((3, 0.9), (9, 0.8), (7, 0.7), (8, 0.7))
    lexical = scored((3, 8.0), (8, 2.0), (7, 2.0), (9, 1.0))
    weights = {"dense": 0.5, "lexical": 0.5, "unit": 1.0}
    fused = convex_fusion({"dense": dense, "unit": unit, "lexical": lexical}, weights=weights)
    assert [h.chunk_id for h in fused] == [9, 7, 8, 3]
    assert fused[1].score == fused[2].score
    assert [fused[i].extra["unit_rank"] for i in range(3)] == [1.0, 1.0, 1.0]
    assert [fused[i].extra["dense_rank"] for i in (1, 2)] == [3.0, 3.0]


def test_convex_of_empty_lists() -> None:
    assert convex_fusion({}, weights=EVEN) == []
    assert convex_fusion({"dense": [], "lexical": []}, weights=EVEN) == []
    only = convex_fusion({"dense": [], "lexical": scored((5, 2.0), (6, 1.0))}, weights=EVEN)
    assert [(h.chunk_id, h.score) for h in only] == [(5, 0.5), (6, 0.0)]
    single = convex_fusion({"dense": scored((4, 0.3))}, weights=EVEN)
    assert [(h.chunk_id, h.score) for h in single] == [(4, 0.5)]
    with pytest.raises(ValueError, match="normalisation must be one of"):
        convex_fusion({"dense": scored((4, 0.3))}, weights=EVEN, normalisation="softmax")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalisation must be one of"):
        convex_fusion({}, weights=EVEN, normalisation={"unit": "softmax"})  # type: ignore[dict-item]


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
