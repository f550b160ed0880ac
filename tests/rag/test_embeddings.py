"""The embedder: model-family prefixes, normalised vectors, token-bounded splits."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embeddings import Embedder, known_prefixes
from rag.errors import ModelLoadError


@pytest.mark.parametrize(
    ("model", "query", "passage"),
    [
        ("sdadas/mmlw-retrieval-roberta-large", "zapytanie: ", ""),
        ("sdadas/mmlw-retrieval-roberta-base", "zapytanie: ", ""),
        ("intfloat/multilingual-e5-large", "query: ", "passage: "),
        ("BAAI/bge-m3", "", ""),
        ("/models/own-model", "", ""),
    ],
)
def test_known_prefixes(model: str, query: str, passage: str) -> None:
    prefixes = known_prefixes(model)
    assert (prefixes.query, prefixes.passage) == (query, passage)


def test_settings_override_prefixes() -> None:
    embedder = Embedder("intfloat/multilingual-e5-base", query_prefix="pytanie: ", passage_prefix="")
    assert (embedder.prefixes.query, embedder.prefixes.passage) == ("pytanie: ", "")


def test_vectors_are_normalised_float32(embedder) -> None:  # type: ignore[no-untyped-def]
    vectors = embedder.encode_passages(["Żółw błotny żyje w Polsce.", "Ustawa o lasach."] * 3)
    assert vectors.dtype == np.float32 and vectors.shape == (6, embedder.dimension)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode_queries([]).shape == (0, embedder.dimension)


def test_reduced_precision_keeps_embeddings(minilm_path, embedder) -> None:  # type: ignore[no-untyped-def]
    """bf16 on CPUs that have it must give (nearly) the same vectors as float32."""
    texts = ["Plan urządzenia lasu sporządza się na 10 lat.", "Żółw błotny jest chroniony."]
    exact = Embedder(minilm_path, device="cpu", dtype="float32")
    fast = Embedder(minilm_path, device="cpu", dtype="bfloat16")
    cosine = np.sum(exact.encode_passages(texts) * fast.encode_passages(texts), axis=1)
    assert np.all(cosine > 0.999)
    questions = ["Na ile lat sporządza się plan urządzenia lasu?", "Czy żółw jest chroniony?"]
    cosine = np.sum(exact.encode_queries(questions) * fast.encode_queries(questions), axis=1)
    assert np.all(cosine > 0.999)


def test_batches_pad_to_a_multiple_without_changing_vectors(minilm_path) -> None:  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    from rag.embeddings import PAD_TO_MULTIPLE_OF

    texts = ["Las.", "Plan urządzenia lasu sporządza się na 10 lat, z uwzględnieniem zasad hodowli."]
    embedder = Embedder(minilm_path, device="cpu", dtype="float32")
    shape = embedder.model.tokenize(texts)["input_ids"].shape
    assert shape[1] % PAD_TO_MULTIPLE_OF == 0
    plain = SentenceTransformer(minilm_path, device="cpu")
    assert plain.tokenize(texts)["input_ids"].shape[1] < shape[1]  # the padding is ours
    expected = plain.encode(texts, normalize_embeddings=True)
    assert np.allclose(embedder.encode_passages(texts), expected, atol=1e-5)


def test_token_counter_splits_within_bound(embedder) -> None:  # type: ignore[no-untyped-def]
    counter = embedder.token_counter()
    text = " ".join(f"przedsiębiorstwo{i} państwowe" for i in range(200))
    spans = counter.split(text, 50)
    assert len(spans) > 1
    assert max(counter.count([text[a:b] for a, b in spans])) <= 50
    assert all(text[a - 1] == " " for a, _ in spans[1:])  # pieces start at word starts
    joined = " ".join(text[a:b] for a, b in spans)
    assert joined == text


def test_missing_model_folder_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelLoadError, match="POLRAG_EMBEDDING_MODEL"):
        Embedder("no-such-org/no-such-model", device="cpu").warm_up()


def test_token_counts_ignore_the_tokenizers_own_padding(minilm_path, embedder) -> None:  # type: ignore[no-untyped-def]
    """MiniLM's tokenizer.json pads to 128 and encode() changes padding: counts must not care."""
    from transformers import AutoTokenizer

    from rag.embeddings import HFTokenCounter

    fresh = HFTokenCounter(AutoTokenizer.from_pretrained(minilm_path))
    assert fresh.count(["Ala ma kota."]) == [4]
    assert fresh.count(["słowo " * 300])[0] > 300  # no truncation either
    counter = embedder.token_counter()
    embedder.encode_passages(["krótkie", "dłuższe zdanie " * 30])
    assert counter.count(["Ala ma kota.", "dłuższe zdanie " * 30])[0] == 4


def test_splitting_leaves_the_shared_tokenizer_alone(embedder) -> None:  # type: ignore[no-untyped-def]
    counter = embedder.token_counter()
    backend = embedder.model.tokenizer.backend_tokenizer
    before = backend.truncation
    spans = counter.split("Plan urządzenia lasu sporządza się na dziesięć lat. " * 40, 64)
    assert len(spans) > 3 and backend.truncation == before
