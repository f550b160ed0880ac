"""The FastAPI application: models load once in the lifespan, routes stay thin."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import APIRouter, Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from api.deps import require_api_key
from api.errors import install_error_handlers
from api.routes import ask, chat, collections, documents, health, pages, search
from api.services import Services
from api.startup import check_index_dir, embedder_hint
from api.uploads import MAX_FULL_FILES, BodyLimit
from api.web import install_web
from rag.answering import Answerer
from rag.errors import CollectionError, ModelLoadError
from rag.generation import Generator
from rag.generation.deferred import DeferredGenerator
from rag.library import Library
from rag.settings import Settings, get_settings
from rag.stores import describe

log = logging.getLogger("polrag.api")


def create_app(
    settings: Settings | None = None,
    *,
    library: Library | None = None,
    generator: Generator | None = None,
    services: Services | None = None,
) -> FastAPI:
    """The API. ``library`` and ``generator`` may be handed in (tests); else they load at start-up.

    ``services`` already loaded by :func:`load_services` (as `polrag serve` does, so that a bad
    start ends before the server does) are used as they are, and closed when the app stops.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = services
        if loaded is None:
            loaded = await run_in_threadpool(load_services, settings, library, generator)
        app.state.services = loaded
        log.info("polrag ready: collections in %s, generator %s", describe(settings), settings.llm_model)
        try:
            yield
        finally:
            app.state.services = None
            loaded.close()

    app = FastAPI(
        title="polrag",
        version="0.1.0",
        description="Questions about your own Polish documents, answered with citations.",
        lifespan=lifespan,
    )
    app.state.services = None
    app.state.api_keys = [key.encode() for key in settings.api_key_list]
    install_error_handlers(app)
    app.add_middleware(BodyLimit, upload_limit=settings.max_upload_mb * 2**20 * MAX_FULL_FILES)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
    for feature in (documents, pages, collections, search, ask, chat):
        v1.include_router(feature.router)
    app.include_router(v1)
    app.include_router(health.router)
    install_web(app)
    return app


def load_services(
    settings: Settings, library: Library | None = None, given: Generator | None = None
) -> Services:
    """Models and the default collection, loaded once; a bad setting raises a PolragError naming it.

    Cheap checks come first (the index folder), so a typo does not wait for the models.
    """
    check_index_dir(settings.index_dir)
    if library is not None:
        return _load(settings, library, given)
    library = Library(settings)
    try:
        return _load(settings, library, given)
    except BaseException:
        library.close()  # ours: nothing else will close its collections
        raise


def _load(settings: Settings, library: Library, given: Generator | None) -> Services:
    from rag.generation import load_generator

    try:
        library.embedder.warm_up()
    except ModelLoadError as exc:
        raise embedder_hint(settings, exc) from exc
    try:
        library.collection(create=True)  # the default collection exists from the start: empty, not 404
    except OSError as exc:
        raise CollectionError(
            f"cannot open the default collection in {str(settings.index_dir)!r} (POLRAG_INDEX_DIR): "
            f"{exc.strerror or exc}"
        ) from exc
    generator: Generator
    if given is None:
        try:
            generator = load_generator(settings)
            generator.warm_up()
        except ModelLoadError as exc:
            # Search and documents work without it; questions retry (vLLM may start later).
            log.error("generator unavailable, questions will retry: %s", exc)
            generator = DeferredGenerator(partial(load_generator, settings), str(exc), settings.llm_model)
    else:
        generator = given
        generator.warm_up()
    return Services(settings, library, Answerer(library, generator))
