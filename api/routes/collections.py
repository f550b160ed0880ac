"""List and delete collections."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Path, Response

from api.deps import ServicesDep
from api.schemas import CollectionList, CollectionOut, ErrorResponse
from rag.settings import COLLECTION_NAME

router = APIRouter(tags=["collections"])


@router.get("/collections", response_model=CollectionList)
def list_collections(services: ServicesDep) -> CollectionList:
    """Every collection with its number of documents and chunks."""
    infos = services.library.collections()
    return CollectionList(collections=[CollectionOut(**asdict(info)) for info in infos])


@router.delete(
    "/collections/{name}",
    status_code=204,
    responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
)
def delete_collection(services: ServicesDep, name: str = Path(pattern=COLLECTION_NAME.pattern)) -> Response:
    """Remove a collection with all its documents and files (the default one is left empty)."""
    services.delete_collection(name)
    return Response(status_code=204)
