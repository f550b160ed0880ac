"""LangChain interop: a polrag collection as a langchain-core ``BaseRetriever``.

Needs the optional extra ``polrag[langchain]``; nothing else in polrag imports this module.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from rag.types import Hit


class PolragRetriever(BaseRetriever):
    """Hybrid polrag retrieval inside LangChain chains.

    ``library`` is a loaded :class:`rag.library.Library`; each returned ``Document`` carries
    the passage text and ``document``, ``document_id``, ``page``, ``last_page``,
    ``chunk_id``, ``heading`` and ``score`` metadata, so citations survive the chain.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    library: Any
    collection: str | None = None
    k: int = Field(6, ge=1, le=100)
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"
    document_ids: list[str] | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.library.search(
            query, collection=self.collection, k=self.k, mode=self.mode, document_ids=self.document_ids
        )
        return [to_document(hit) for hit in hits]


def to_document(hit: Hit) -> Document:
    """A polrag hit as a LangChain ``Document`` (the one place the two types meet)."""
    return Document(
        page_content=hit.text,
        metadata={
            "document": hit.file_name,
            "document_id": hit.document_id,
            "page": hit.page,
            "last_page": hit.last_page,
            "chunk_id": hit.chunk_id,
            "heading": hit.heading,
            "score": hit.score,
        },
    )
