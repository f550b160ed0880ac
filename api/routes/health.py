"""Liveness and readiness probes (no API key needed; details only with one)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import has_valid_key
from api.errors import error_response
from rag.errors import CollectionNotFound, PolragError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:  # on the event loop: answers even when the thread pool is busy
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Models are loaded and every collection opens.

    Anyone may ask, so without a valid API key the answer says ready or not and why in
    general terms only; collection names, model paths and error texts need a key (or an
    API without keys, where /v1 shows them anyway).
    """
    detailed = has_valid_key(request)
    services = getattr(request.app.state, "services", None)
    if services is None:
        return error_response(503, "starting", "models are still loading")
    try:
        names = services.library.collection_names()
        for name in list(names):
            try:
                services.library.collection(name)
            except CollectionNotFound:  # deleted since it was listed: no collection, nothing broken
                names.remove(name)
    except PolragError as exc:
        detail = f": {exc.public_message}" if detailed else ""
        return error_response(503, "collection_unavailable", f"a collection cannot be opened{detail}")
    generator = services.answerer.generator
    if not getattr(generator, "ready", True):
        detail = f": {generator.error}" if detailed else ""
        return error_response(
            503,
            "generator_unavailable",
            f"search works; questions do not: the generator is not loaded{detail}",
        )
    if not detailed:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "ready", "collections": names, "model": generator.model_name})
