"""Liveness and readiness probes (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.errors import error_response
from rag.errors import PolragError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:  # on the event loop: answers even when the thread pool is busy
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Models are loaded and every collection opens."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        return error_response(503, "starting", "models are still loading")
    try:
        names = services.library.collection_names()
        for name in names:
            services.library.collection(name)
    except PolragError as exc:
        return error_response(503, "collection_unavailable", str(exc))
    generator = services.answerer.generator
    if not getattr(generator, "ready", True):
        return error_response(
            503, "generator_unavailable", f"search works; questions do not: {generator.error}"
        )
    return JSONResponse(
        {"status": "ready", "collections": names, "model": services.answerer.generator.model_name}
    )
