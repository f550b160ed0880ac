"""LangChain's own standard retriever suite (langchain-tests) against PolragRetriever.

The suite is written by LangChain, not here: it checks the contract every LangChain retriever
keeps (``k`` in the constructor and at ``invoke``, sync and async calls returning ``Document``s).
It runs over a real collection: two acts from Dziennik Ustaw embedded with MiniLM.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from ingest.pipeline import ingest_paths
from rag.langchain_retriever import PolragRetriever

DATA = Path(__file__).parent.parent / "data"
ACTS = [DATA / "DU_2020_poz3.pdf", DATA / "DU_2020_poz12.pdf"]
QUERY = "zaniechanie poboru podatku dochodowego"


@pytest.fixture(scope="module")
def acts_library(tmp_path_factory: pytest.TempPathFactory, minilm_path: str, embedder: Any) -> Iterator[Any]:
    """A library whose default collection holds the two acts (ingested once for the module)."""
    from rag.library import Library
    from rag.settings import load_settings

    settings = load_settings(
        index_dir=tmp_path_factory.mktemp("langchain-standard"), embedding_model=minilm_path, device="cpu"
    )
    library = Library(settings, embedder=embedder)
    report = ingest_paths(library, ACTS, workers=0)
    assert not report.failed and report.chunks >= 5, report.to_json()
    yield library
    library.close()


# The async standard test is a coroutine: anyio runs the marked class's coroutines and leaves the rest.
@pytest.mark.anyio
class TestPolragRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _library(self, acts_library: Any) -> None:
        self.library = acts_library

    @property
    def retriever_constructor(self) -> type[PolragRetriever]:
        return PolragRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"library": self.library}

    @property
    def retriever_query_example(self) -> str:
        return QUERY


def test_invoke_time_settings_override_the_constructed_ones(acts_library: Any) -> None:
    retriever = PolragRetriever(library=acts_library, k=4)
    lexical = retriever.invoke(QUERY, k=2, mode="lexical")
    assert len(lexical) == 2 and lexical[0].metadata["document"] == "DU_2020_poz12.pdf"
    assert len(retriever.invoke(QUERY)) == 4  # the override lasted one call

    only_waste = [d.id for d in acts_library.collection().documents() if d.file_name == "DU_2020_poz3.pdf"]
    docs = retriever.invoke(QUERY, document_ids=only_waste, k=3)
    assert docs and {d.metadata["document"] for d in docs} == {"DU_2020_poz3.pdf"}


async def _ainvoke(retriever: PolragRetriever, **kwargs: Any) -> list[Document]:
    return await retriever.ainvoke(QUERY, **kwargs)


@pytest.mark.anyio
async def test_ainvoke_takes_the_same_overrides(acts_library: Any) -> None:
    docs = await _ainvoke(PolragRetriever(library=acts_library), k=2, mode="dense")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)


def test_bad_invoke_time_settings_are_refused(acts_library: Any) -> None:
    retriever = PolragRetriever(library=acts_library)
    with pytest.raises(ValueError, match="k"):
        retriever.invoke(QUERY, k=0)
    with pytest.raises(ValueError, match="mode"):
        retriever.invoke(QUERY, mode="fuzzy")
    with pytest.raises(TypeError, match="top_k.*accepts k, mode, collection, document_ids"):
        retriever.invoke(QUERY, top_k=2)
