"""LangChain interop: a polrag collection as a langchain-core ``BaseRetriever``.

Needs the optional extra ``polrag[langchain]``; nothing else in polrag imports this module.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field

from rag.retrieval import Mode
from rag.types import Hit

# Settings a caller may change for one call: ``retriever.invoke(query, k=1, mode="lexical")``.
SEARCH_KWARGS = ("k", "mode", "collection", "document_ids")
# LangChain itself leaves these in the invoke kwargs it hands down; they are not search settings.
_LANGCHAIN_KWARGS = frozenset({"verbose"})


class PolragRetriever(BaseRetriever):
    """Hybrid polrag retrieval inside LangChain chains.

    ``library`` is a loaded :class:`rag.library.Library`; each returned ``Document`` carries
    the passage text and ``document``, ``document_id``, ``page``, ``last_page``,
    ``chunk_id``, ``heading`` and ``score`` metadata, so citations survive the chain.
    ``k``, ``mode``, ``collection`` and ``document_ids`` set at construction may be
    overridden per call as ``invoke`` keyword arguments, as LangChain retrievers accept;
    they are validated the same way (``k=0`` or an unknown mode raise ``ValueError``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    library: Any
    collection: str | None = None
    k: int = Field(6, ge=1, le=100)
    mode: Mode = "hybrid"
    document_ids: list[str] | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        search = self._for_call(kwargs)
        hits = self.library.search(
            query,
            collection=search.collection,
            k=search.k,
            mode=search.mode,
            document_ids=search.document_ids,
        )
        return [to_document(hit) for hit in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        # langchain-core's default drops the invoke kwargs on the way to the sync method.
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), **kwargs
        )

    def _for_call(self, kwargs: dict[str, Any]) -> PolragRetriever:
        """This retriever with the call's overrides applied and validated (self when there are none)."""
        unknown = sorted(set(kwargs) - set(SEARCH_KWARGS) - _LANGCHAIN_KWARGS)
        if unknown:
            raise TypeError(
                f"PolragRetriever got unexpected keyword argument(s) {', '.join(unknown)}; "
                f"it accepts {', '.join(SEARCH_KWARGS)}"
            )
        overrides = {name: kwargs[name] for name in SEARCH_KWARGS if kwargs.get(name) is not None}
        if not overrides:
            return self
        fields = {name: getattr(self, name) for name in ("library", *SEARCH_KWARGS)}
        return type(self).model_validate({**fields, **overrides})


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
