"""Hybrid retrieval over a real collection: modes, legal units, folding, filters, reranking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from ingest.pipeline import ingest_paths
from rag.retrieval import RetrievalConfig
from rag.types import Hit

LAS = """Rozdział 4
Plan urządzenia lasu
Art. 18. 1. Plan urządzenia lasu sporządza się na 10 lat, z uwzględnieniem przyrodniczych \
i ekonomicznych warunków gospodarki leśnej.
2. W przypadkach uzasadnionych stanem lasów plan może być sporządzony na okres krótszy.
Art. 19. Nadleśniczy sporządza projekt planu urządzenia lasu dla nadleśnictwa.
Art. 30. 1. Zabrania się w lasach zanieczyszczania gleby i wód oraz rozkopywania gruntu.
2. Zakaz nie dotyczy właściciela lasu."""
ZOLW = "Żółw błotny jest gatunkiem chronionym. Żółwie błotne zimują w mule na dnie stawów."


@pytest.fixture()
def collection(library, tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "ustawa_o_lasach.txt").write_text(LAS, encoding="utf-8")
    (tmp_path / "zolw.txt").write_text(ZOLW, encoding="utf-8")
    (tmp_path / "inne.txt").write_text(
        "Przepisy art. 30 ustawy stosuje się odpowiednio. Zob. art. 30 oraz art. 18.", encoding="utf-8"
    )
    ingest_paths(library, [tmp_path], workers=0)
    return library.collection()


def files(hits: Sequence[Hit]) -> list[str]:
    return [hit.file_name for hit in hits]


def test_inflected_question_finds_the_passage_lexically(library, collection) -> None:  # type: ignore[no-untyped-def]
    hits = library.search("na ile lat sporządza się plan urządzenia lasu", k=3, mode="lexical")
    assert hits[0].file_name == "ustawa_o_lasach.txt" and "na 10 lat" in hits[0].text


def test_words_typed_without_diacritics_still_match(library, collection) -> None:  # type: ignore[no-untyped-def]
    for mode in ("lexical", "hybrid"):
        assert files(library.search("gdzie zimuja zolwie", k=1, mode=mode)) == ["zolw.txt"]


def test_query_naming_a_legal_unit_finds_the_unit(library, collection) -> None:  # type: ignore[no-untyped-def]
    for mode in ("lexical", "hybrid"):
        best = library.search("art. 30", k=3, mode=mode)[0]
        assert "\nArt. 30. 1. Zabrania" in "\n" + best.text, (mode, best.text)


def test_modes_and_document_filter(library, collection) -> None:  # type: ignore[no-untyped-def]
    inne = next(d.id for d in collection.documents() if d.file_name == "inne.txt")
    query = "art. 30 plan urządzenia lasu"  # words of two documents
    for mode in ("dense", "lexical", "hybrid"):
        assert "ustawa_o_lasach.txt" in files(library.search(query, k=5, mode=mode)), mode
        hits = library.search(query, k=5, mode=mode, document_ids=[inne])
        assert hits and set(files(hits)) == {"inne.txt"}, mode
    hybrid = library.search("plan urządzenia lasu", k=5)
    assert all("dense" in h.extra or "lexical" in h.extra for h in hybrid)
    with pytest.raises(ValueError, match="mode must be one of"):
        library.search("las", mode="fuzzy")  # type: ignore[arg-type]


class ReverseReranker:
    """A fake cross-encoder that prefers short passages: proves the reranker decides."""

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        return sorted((replace(h, score=-len(h.text)) for h in hits), key=lambda h: -h.score)


def test_reranker_reorders_fused_candidates(library, collection) -> None:  # type: ignore[no-untyped-def]
    library.retriever.reranker = ReverseReranker()  # type: ignore[assignment]
    library.retriever.config = RetrievalConfig(rerank_top=10)
    hits = library.search("żółw lasy plan", k=3)
    assert [len(h.text) for h in hits] == sorted(len(h.text) for h in hits)


def test_reranker_is_off_on_cpu_by_default(settings, embedder) -> None:  # type: ignore[no-untyped-def]
    from rag.library import Library

    assert Library(settings, embedder=embedder).retriever.reranker is None
    forced = Library(settings.model_copy(update={"rerank": "on"}), embedder=embedder)
    assert forced.retriever.reranker is not None
    off = Library(settings.model_copy(update={"rerank": "on", "reranker_model": ""}), embedder=embedder)
    assert off.retriever.reranker is None


def test_dense_weight_follows_the_embedder(settings, embedder) -> None:  # type: ignore[no-untyped-def]
    from rag.embeddings import reads_polish
    from rag.library import Library

    assert reads_polish("sdadas/mmlw-retrieval-roberta-large") and reads_polish("BAAI/bge-m3")
    assert not reads_polish(embedder.model_name)  # all-MiniLM-L6-v2 is English
    assert Library(settings, embedder=embedder).retriever.config.dense_weight == 0.25
    chosen = Library(settings.model_copy(update={"rrf_dense_weight": 0.8}), embedder=embedder)
    assert chosen.retriever.config.dense_weight == 0.8


def test_fusion_follows_the_embedder(settings, embedder) -> None:  # type: ignore[no-untyped-def]
    from rag.library import Library

    # MiniLM (English): scores fused convexly, dense only breaking BM25's near ties (PoQuAD's choice).
    config = Library(settings, embedder=embedder).retriever.config
    assert (config.fusion, config.dense_alpha, config.normalisation, config.candidates) == (
        "convex",
        0.05,
        "theoretical",
        100,
    )
    # e5 and the other Polish-capable embedders keep RRF: convex lost an own-set question at R@5.
    from rag.embeddings import reads_polish
    from rag.library import _retrieval_config

    polish = _retrieval_config(settings, reads_polish("multilingual-e5-small-q4"))
    assert (polish.fusion, polish.dense_alpha, polish.normalisation, polish.candidates) == (
        "rrf",
        0.5,
        "minmax",
        100,
    )
    update = {"fusion": "rrf", "fusion_dense_alpha": 0.3, "fusion_normalisation": "zscore"}
    chosen = Library(settings.model_copy(update=update), embedder=embedder).retriever.config
    assert (chosen.fusion, chosen.dense_alpha, chosen.normalisation) == ("rrf", 0.3, "zscore")


def test_fusion_settings_are_checked(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rag.errors import ConfigError
    from rag.settings import load_settings

    monkeypatch.setenv("POLRAG_FUSION", "softmax")
    with pytest.raises(ConfigError, match="POLRAG_FUSION: Input should be 'rrf' or 'convex'"):
        load_settings()
    monkeypatch.setenv("POLRAG_FUSION", "convex")
    monkeypatch.setenv("POLRAG_FUSION_DENSE_ALPHA", "1.5")
    with pytest.raises(
        ConfigError, match="POLRAG_FUSION_DENSE_ALPHA: Input should be less than or equal to 1"
    ):
        load_settings()
    with pytest.raises(ValueError, match="dense_alpha must be between 0 and 1"):
        RetrievalConfig(dense_alpha=-0.1)
    with pytest.raises(ValueError, match="normalisation must be one of minmax, theoretical, zscore"):
        RetrievalConfig(normalisation="softmax")  # type: ignore[arg-type]


def test_convex_fusion_keeps_each_lists_scores_and_the_named_unit_first(library, collection) -> None:  # type: ignore[no-untyped-def]
    library.retriever.config = replace(library.retriever.config, fusion="convex", dense_alpha=0.5)
    hits = library.search("co mówi art. 30 o zanieczyszczaniu gleby?", k=3)
    assert "\nArt. 30. 1. Zabrania" in "\n" + hits[0].text, hits[0].text
    assert {"dense", "dense_rank", "lexical", "lexical_rank", "unit", "unit_rank"} <= set(hits[0].extra)
    assert hits[0].score > 1.0  # the unit term (1) plus the convex dense and BM25 terms


def test_convex_keeps_the_unit_term_of_every_named_unit() -> None:
    """ "art. 30 i art. 31": the two units' headings score apart in BM25 (their idf differ), yet
    the chunks under either are under a unit the question names. Min-max or z-score over the
    unit list put the lower unit's chunks at the list's floor, level with chunks under no named
    unit; the unit list is scaled from BM25's floor whatever the dense and lexical lists use."""
    from rag.fusion import NORMALISATIONS
    from rag.retrieval import fuse

    def scored(*pairs: tuple[int, float]) -> list[Hit]:
        return [Hit(i, "d", "f.txt", 1, 1, f"tekst {i}", s) for i, s in pairs]

    # Chunk 9 cites no unit and leads both lists by a little; 30 and 31 hold Art. 30 and Art. 31.
    rankings = {
        "dense": scored((9, 0.62), (30, 0.60), (31, 0.58), (5, 0.2)),
        "lexical": scored((9, 6.2), (30, 6.0), (31, 5.8), (5, 1.0)),
        "unit": scored((31, 4.1), (30, 2.7)),
    }
    for normalisation in NORMALISATIONS:
        config = RetrievalConfig(fusion="convex", dense_alpha=0.5, normalisation=normalisation)
        order = [hit.chunk_id for hit in fuse(rankings, config)]
        assert order[:2] == [31, 30], (normalisation, order)


def test_convex_lexical_mode_keeps_bm25_whatever_the_dense_alpha() -> None:
    """`--mode lexical` on "art. 30": the chunks under Art. 30 tie in the unit list and BM25
    orders them. With POLRAG_FUSION_DENSE_ALPHA=1 BM25 weighed 0 there, and chunk ids decided."""
    from rag.retrieval import fuse

    def scored(*pairs: tuple[int, float]) -> list[Hit]:
        return [Hit(i, "d", "f.txt", 1, 1, f"tekst {i}", s) for i, s in pairs]

    rankings = {"lexical": scored((12, 7.5), (11, 2.0), (3, 1.0)), "unit": scored((11, 3.0), (12, 3.0))}
    for alpha in (0.0, 0.5, 1.0):
        config = RetrievalConfig(fusion="convex", dense_alpha=alpha)
        assert [hit.chunk_id for hit in fuse(rankings, config)] == [12, 11, 3], alpha
