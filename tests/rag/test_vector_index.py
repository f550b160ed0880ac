"""The vector index: exact while small, IVF past the threshold, ids kept through both."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.pipeline import ingest_paths
from rag.collection import Collection
from rag.vector_index import VectorIndex, ivf_lists_for


def clustered(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(50, d))
    x = centers[rng.integers(0, 50, n)] + 0.4 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_switch_to_ivf_keeps_ids_results_and_removal(tmp_path: Path) -> None:
    vectors = clustered(6000)
    ids = np.arange(1000, 7000)
    index = VectorIndex(32, nprobe=16)
    index.add(ids, vectors)
    exact_scores, exact_ids = index.search(vectors[:20], 5)
    assert not index.upgrade_if_large(10_000) and not index.approximate
    assert index.upgrade_if_large(5000) and index.approximate
    assert np.array_equal(np.sort(index.ids()), ids)
    _, approx_ids = index.search(vectors[:20], 5)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(exact_ids, approx_ids, strict=True)])
    assert recall >= 0.9
    assert approx_ids[0][0] == 1000  # a stored vector finds itself

    assert index.remove(np.array([1000, 1001])) == 2
    assert 1000 not in index.search(vectors[:1], 5)[1][0]
    _, allowed = index.search(vectors[:1], 3, allowed_ids=np.array([6998, 6999]))
    assert set(allowed[0]) == {6998, 6999, -1}  # -1 pads the third place

    path = tmp_path / "v.faiss"
    index.save(path)
    again = VectorIndex.load(path, 32, nprobe=16)
    assert again.approximate and len(again) == 5998


def test_list_count_follows_collection_size() -> None:
    assert ivf_lists_for(1_000_000) == 4000
    assert ivf_lists_for(100_000) == 1264
    assert ivf_lists_for(4000) == 100


def test_collection_switches_past_its_threshold(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(f"Zdanie numer {i} mówi o sprawie {i % 17} i terminie {i % 5} dni." for i in range(1500))
    (tmp_path / "dlugi.txt").write_text(text, encoding="utf-8")
    collection: Collection = library.collection(create=True)
    collection.ann_threshold = 60
    ingest_paths(library, [tmp_path / "dlugi.txt"], workers=0)
    assert len(collection) > 60 and collection._index.approximate
    library.close()
    reopened = library.collection()
    assert reopened._index.approximate
    assert np.array_equal(np.sort(reopened._index.ids()), np.sort(reopened.catalog.chunk_ids()))
    first = reopened.catalog.chunks_of(reopened.documents()[0].id)[0]
    assert library.search(first.text, k=1, mode="dense")[0].chunk_id == first.chunk_id


def test_default_probes_a_fifth_of_the_lists_and_quantises_to_bytes() -> None:
    from rag.vector_index import probes_for

    assert probes_for(4000, None) == 800 and probes_for(1264, None) == 253
    assert probes_for(50, None) == 16 and probes_for(10, None) == 10  # never more lists than exist
    assert probes_for(4000, 64) == 64  # POLRAG_ANN_NPROBE wins
    vectors = clustered(6000)
    index = VectorIndex(32)
    index.add(np.arange(6000), vectors)
    index.upgrade_if_large(5000)
    import faiss

    assert type(faiss.downcast_index(index._index)).__name__ == "IndexIVFScalarQuantizer"
    assert index._ivf.nprobe == probes_for(ivf_lists_for(6000), None)
    scores, ids = index.search(vectors[:10], 1)
    assert list(ids[:, 0]) == list(range(10))
    assert np.allclose(scores[:, 0], 1.0, atol=0.02)  # 8-bit codes: cosine close to exact
