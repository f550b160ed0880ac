"""Hybrid, dense or lexical passage search."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep
from api.schemas import ErrorResponse, SearchRequest, SearchResponse

router = APIRouter(tags=["search"])


@router.post("/search", response_model=SearchResponse, responses={404: {"model": ErrorResponse}})
def search(body: SearchRequest, services: ServicesDep) -> dict[str, object]:
    hits = services.library.search(
        body.query, collection=body.collection, k=body.k, mode=body.mode, document_ids=body.document_ids
    )
    return {"hits": [hit.to_json() for hit in hits]}
