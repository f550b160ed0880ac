"""The openai embedding backend against a loopback server the test scripts: retries, outages,
other models, other dimensions, timeouts, batching, the prefix conventions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.embedder import build_embedder
from rag.embedding_server import OpenAIEmbedder
from rag.errors import ConfigError, EmbeddingMismatch, EmbeddingServerError
from rag.settings import load_settings
from tests.conftest import free_port
from tests.fake_embedding_server import FakeEmbeddingServer, fake_vector


@pytest.fixture()
def server() -> Iterator[FakeEmbeddingServer]:
    with FakeEmbeddingServer() as fake:
        yield fake


def client(url: str, model: str = "fake-e5", **options: object) -> OpenAIEmbedder:
    options = {"retries": 3, "backoff": 0.01, "timeout": 5.0, **options}
    return OpenAIEmbedder(url, model, **options)  # type: ignore[arg-type]


def test_vectors_come_back_normalised_in_order(server: FakeEmbeddingServer) -> None:
    server.reverse_order = True
    embedder = client(server.url, batch_size=3)
    texts = [f"tekst {i}" for i in range(10)]
    vectors = embedder.encode_passages(texts)
    expected = np.array([fake_vector(f"passage: {t}", 8) for t in texts])  # "e5" in the name
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert vectors.dtype == np.float32 and np.allclose(vectors, expected, atol=1e-6)
    assert sorted(len(r["input"]) for r in server.requests[1:]) == [1, 3, 3, 3]  # after the probe


def test_concurrency_is_bounded(server: FakeEmbeddingServer) -> None:
    server.delay_s = 0.1
    embedder = client(server.url, batch_size=1, concurrency=2)
    embedder.warm_up()
    embedder.encode_passages([f"t{i}" for i in range(8)])
    assert server.max_in_flight == 2


def test_429_is_retried_then_succeeds(server: FakeEmbeddingServer) -> None:
    embedder = client(server.url)
    embedder.warm_up()
    server.statuses.extend([429, 502])
    vectors = embedder.encode_queries(["Ile lat trwa plan?"])
    assert vectors.shape == (1, 8)
    assert len(server.requests) == 1 + 3  # probe, 429, 502, then the answer


def test_retry_after_is_honoured(server: FakeEmbeddingServer) -> None:
    embedder = client(server.url)
    embedder.warm_up()
    server.statuses.append(503)
    server.retry_after = "0.5"
    started = time.monotonic()
    embedder.encode_queries(["pytanie"])
    assert time.monotonic() - started >= 0.5


def test_503_that_persists_is_one_clear_error(server: FakeEmbeddingServer) -> None:
    embedder = client(server.url, retries=2)
    embedder.warm_up()
    server.status_always = 503
    with pytest.raises(EmbeddingServerError) as error:
        embedder.encode_passages(["tekst"])
    message = str(error.value)
    assert server.url in message and "'fake-e5'" in message and "HTTP 503" in message
    assert "3 attempts" in message and "\n" not in message
    assert len(server.requests) == 1 + 3


def test_connection_refused_names_url_and_model() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    embedder = client(url, retries=2)
    with pytest.raises(EmbeddingServerError, match="cannot connect") as error:
        embedder.warm_up()
    assert url in str(error.value) and "'fake-e5'" in str(error.value)
    assert "POLRAG_EMBEDDING_BASE_URL" in str(error.value)


def test_timeout_is_an_error_not_retried(server: FakeEmbeddingServer) -> None:
    embedder = client(server.url, timeout=0.3)
    embedder.warm_up()
    server.delay_s = 1.5
    started = time.monotonic()
    with pytest.raises(EmbeddingServerError, match=r"no answer within 0\.3 s.*POLRAG_EMBEDDING_TIMEOUT_S"):
        embedder.encode_queries(["pytanie"])
    assert time.monotonic() - started < 1.4
    assert len(server.requests) == 2  # the probe and one try


def test_server_listing_other_models_is_refused(server: FakeEmbeddingServer) -> None:
    server.listed = ["intfloat/multilingual-e5-large"]
    with pytest.raises(EmbeddingServerError, match="serves 'intfloat/multilingual-e5-large', not 'fake-e5'"):
        client(server.url).warm_up()


def test_ollama_latest_tag_counts_as_the_model(server: FakeEmbeddingServer) -> None:
    server.listed = ["fake-e5:latest", "bielik:latest"]
    assert client(server.url).dimension == 8


def test_unknown_model_without_a_listing_is_refused(server: FakeEmbeddingServer) -> None:
    server.listed = None  # no /v1/models: the probe request finds out
    expected = "does not serve that model.*POLRAG_EMBEDDING_MODEL"
    with pytest.raises(EmbeddingServerError, match=expected) as error:
        client(server.url, "other-model").warm_up()
    assert server.url in str(error.value)


def test_wrong_endpoint_says_where_the_v1_goes(server: FakeEmbeddingServer) -> None:
    root = server.url.removesuffix("/v1")
    with pytest.raises(EmbeddingServerError, match="usually ends in /v1"):
        client(root).warm_up()


def test_api_key_is_sent_and_a_wrong_one_explained() -> None:
    with FakeEmbeddingServer(api_key="sekret") as fake:
        assert client(fake.url, api_key="sekret").dimension == 8
        with pytest.raises(EmbeddingServerError, match="POLRAG_EMBEDDING_API_KEY"):
            client(fake.url, api_key="zly").warm_up()


def test_dimension_change_mid_run_is_refused(server: FakeEmbeddingServer) -> None:
    embedder = client(server.url)
    assert embedder.dimension == 8
    server.dimension = 16
    with pytest.raises(EmbeddingServerError, match="16-d vectors where it gave 8-d before"):
        embedder.encode_passages(["tekst"])


def test_collection_refuses_vectors_of_another_dimension(tmp_path: Path, server: FakeEmbeddingServer) -> None:
    from rag.library import Library

    settings = load_settings(
        index_dir=tmp_path,
        embedding_backend="openai",
        embedding_base_url=server.url,
        embedding_model="fake-e5",
        device="cpu",
    )
    first = Library(settings, embedder=client(server.url))
    first.collection("c", create=True)
    first.close()
    server.dimension = 16  # the same name now serves another model
    second = Library(settings, embedder=client(server.url))
    with pytest.raises(EmbeddingMismatch, match="holds 8-d vectors of 'fake-e5'.*16-d"):
        second.collection("c")


@pytest.mark.parametrize(
    ("input_type", "sent_text", "sent_field"),
    [("none", "query: Gdzie?", None), ("field", "Gdzie?", "query")],
)
def test_prefix_conventions(
    server: FakeEmbeddingServer, input_type: str, sent_text: str, sent_field: str | None
) -> None:
    embedder = client(server.url, input_type=input_type)
    embedder.encode_queries(["Gdzie?"])
    request = server.requests[-1]
    assert request["input"] == [sent_text] and request.get("input_type") == sent_field


def test_settings_build_the_server_backend(server: FakeEmbeddingServer) -> None:
    settings = load_settings(
        embedding_backend="openai", embedding_base_url=server.url, embedding_model="fake-e5"
    )
    embedder = build_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder) and embedder.dimension == 8


def test_openai_backend_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match="POLRAG_EMBEDDING_BASE_URL is required"):
        load_settings(embedding_backend="openai", embedding_base_url="")


def test_token_estimate_reserves_room_for_specials_and_prefixes(server: FakeEmbeddingServer) -> None:
    client_side = client(server.url, max_tokens=512, chars_per_token=3.3)
    assert client_side.max_passage_tokens == 512 - 2 - 3  # "passage: " is 9 characters: 3 tokens
    field = client(server.url, max_tokens=512, input_type="field")
    assert field.max_passage_tokens == 512 - 2 - 4


def test_server_outage_mid_ingest_keeps_what_was_stored(tmp_path: Path, server: FakeEmbeddingServer) -> None:
    from ingest.pipeline import ingest_paths
    from rag.library import Library

    first, second = tmp_path / "pierwszy.txt", tmp_path / "drugi.txt"
    first.write_text("Plan urządzenia lasu sporządza się na 10 lat.", "utf-8")
    second.write_text("Żółw błotny jest gatunkiem chronionym.", "utf-8")
    settings = load_settings(index_dir=tmp_path / "indexes", embedding_model="fake-e5", device="cpu")
    library = Library(settings, embedder=client(server.url, retries=1))
    try:
        assert ingest_paths(library, [first], workers=0).chunks == 1
        server.status_always = 503
        with pytest.raises(EmbeddingServerError, match="unavailable after 2 attempts: HTTP 503"):
            ingest_paths(library, [second], workers=0)
    finally:
        library.close()
    server.status_always = None
    reopened = Library(settings, embedder=client(server.url))
    try:
        collection = reopened.collection()
        assert [doc.file_name for doc in collection.documents()] == ["pierwszy.txt"]
        assert len(collection) == 1
        hits = reopened.search("plan urządzenia lasu", k=1, mode="lexical")
        assert hits[0].file_name == "pierwszy.txt"
    finally:
        reopened.close()


def test_named_tokenizer_counts_chunks_exactly(server: FakeEmbeddingServer, minilm_path: str) -> None:
    from rag.embeddings import HFTokenCounter

    embedder = client(server.url, tokenizer=minilm_path, max_tokens=256)
    counter = embedder.token_counter()
    assert isinstance(counter, HFTokenCounter)
    assert counter.count(["passage: "]) == [2]  # WordPiece: "passage", ":"
    assert embedder.max_passage_tokens == 256 - 2 - 2  # [CLS], [SEP] and the prefix


def test_missing_tokenizer_is_a_clear_error(server: FakeEmbeddingServer, tmp_path: Path) -> None:
    from rag.errors import ModelLoadError

    embedder = client(server.url, tokenizer=str(tmp_path / "no-such-tokenizer"))
    with pytest.raises(ModelLoadError, match="POLRAG_EMBEDDING_TOKENIZER"):
        embedder.token_counter()


@pytest.mark.parametrize(
    "embedding",
    [["x"] * 8, [None] * 8, [float("nan")] * 8, [float("inf")] + [1.0] * 7],
    ids=["strings", "nulls", "nan", "inf"],
)
def test_vectors_that_are_not_numbers_are_one_clear_error(
    server: FakeEmbeddingServer, embedding: object
) -> None:
    # Review: numpy's ValueError/TypeError escaped (a 500 with a traceback through the API), and
    # NaN or infinite vectors (an fp16 overflow on the server) were stored for good.
    embedder = client(server.url)
    embedder.warm_up()
    server.embedding = embedding
    with pytest.raises(EmbeddingServerError, match="fake-e5"):
        embedder.encode_passages(["tekst"])


def test_closing_a_library_closes_the_embedding_client_it_made(server: FakeEmbeddingServer) -> None:
    # Review: Library.close left the client's sockets and request threads behind (every API
    # shutdown, every Library a benchmark or test makes).
    from rag.library import Library

    settings = load_settings(
        embedding_backend="openai",
        embedding_base_url=server.url,
        embedding_model="fake-e5",
        embedding_batch_size=1,
    )
    library = Library(settings)
    library.embedder.encode_passages(["jeden", "dwa", "trzy"])  # three batches: the request threads start
    threads = list(library.embedder._pool._threads)  # type: ignore[attr-defined]  # this client's only
    assert threads and all(t.is_alive() for t in threads)
    library.close()
    assert not any(t.is_alive() for t in threads)


def test_api_key_from_a_file_with_its_newline_works_and_a_broken_one_is_one_line() -> None:
    # Review: "sekret\n" (a key read from a file) raised httpx's LocalProtocolError at the first
    # request: a traceback from `polrag serve`, a 500 from the API.
    with FakeEmbeddingServer(api_key="sekret") as fake:
        assert client(fake.url, api_key="sekret\n").dimension == 8
    with pytest.raises(ConfigError, match="POLRAG_EMBEDDING_API_KEY"):
        client("http://127.0.0.1:9/v1", api_key="sek\nret")
