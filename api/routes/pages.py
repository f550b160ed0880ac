"""A document's pages for the web page: page images with a passage highlighted, and a text view."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import ServicesDep
from api.routes.documents import CollectionQuery
from api.schemas import ErrorResponse, TextViewOut
from rag.errors import DocumentNotFound
from rag.text_view import passage_of, text_view
from rag.types import DocumentInfo

router = APIRouter(tags=["documents"])
CACHE_CONTROL = "private, max-age=3600"  # a page image never changes: its document id names its bytes
HighlightQuery = Annotated[
    int | None, Query(ge=1, description="A chunk id (a passage's chunk_id) to highlight.")
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


@router.get(
    "/documents/{document_id}/pages/{page}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The page as PNG."}, **NOT_FOUND},
)
def page_image(
    document_id: str,
    page: int,
    request: Request,
    services: ServicesDep,
    width: Annotated[int, Query(ge=200, le=2000, description="Width in pixels.")] = 1000,
    highlight: HighlightQuery = None,
    collection: CollectionQuery = None,
) -> Response:
    """Page ``page`` (from 1) of a PDF or image document as PNG, the passage ``highlight`` drawn
    on it. 404 ``no_page_image`` for formats without pages to show (use the text view)."""
    target = services.library.collection(collection)
    document = _document(target.document(document_id), document_id, target.name)
    passage = passage_of(target, document, highlight) if highlight is not None else None
    images = services.page_images
    etag = images.etag(target, document, page, width, highlight)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    rendered = images.render(target, document, page, width, passage)
    return Response(rendered.png, media_type="image/png", headers=headers)


@router.get("/documents/{document_id}/text", response_model=TextViewOut, responses=NOT_FOUND)
def document_text(
    document_id: str,
    services: ServicesDep,
    page: Annotated[int | None, Query(ge=1, description="Page (paged documents).")] = None,
    highlight: HighlightQuery = None,
    collection: CollectionQuery = None,
) -> TextViewOut:
    """A page's text, or (documents without pages) the passage ``highlight`` with its neighbouring
    text; ``highlights`` are [start, end) character offsets into ``text``."""
    target = services.library.collection(collection)
    document = _document(target.document(document_id), document_id, target.name)
    passage = passage_of(target, document, highlight) if highlight is not None else None
    view = text_view(target, document, page, passage)
    return TextViewOut(
        document_id=view.document_id,
        file_name=view.file_name,
        page=view.page,
        pages=view.pages,
        has_page_images=view.has_page_images,
        text=view.text,
        highlights=[[start, end] for start, end in view.highlights],
    )


def _document(document: DocumentInfo | None, document_id: str, collection: str) -> DocumentInfo:
    if document is None:
        raise DocumentNotFound(f"no document with id {document_id!r} in collection {collection!r}")
    return document


def _matches(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak or strong) or is ``*``."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags
