"""Every error leaves the API as JSON {"error": {"code", "message"}} with the right status."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag import errors
from rag.settings import COLLECTION_NAME, check_collection_name

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5  # what a 409/429 busy answer suggests waiting, in seconds

# polrag's own errors, most specific first: (class, HTTP status, code)
STATUS_OF: list[tuple[type[errors.PolragError], int, str]] = [
    (errors.CollectionNotFound, 404, "collection_not_found"),
    (errors.DocumentNotFound, 404, "document_not_found"),
    (errors.PageNotFound, 404, "not_found"),
    (errors.NoPageImage, 404, "no_page_image"),
    (errors.NoOriginal, 404, "no_original"),
    (errors.PageTooLarge, 422, "page_too_large"),
    (errors.EmbeddingMismatch, 409, "embedding_mismatch"),
    (errors.CollectionBusy, 409, "collection_busy"),
    (errors.CollectionError, 409, "collection_error"),
    (errors.UnsupportedFileType, 415, "unsupported_media_type"),
    (errors.DocumentTooLarge, 413, "document_too_large"),
    (errors.BadDocumentError, 422, "bad_document"),
    (errors.InvalidInput, 422, "invalid_request"),
    (errors.PromptTooLong, 422, "prompt_too_long"),
    (errors.ConfigError, 422, "invalid_request"),
    (errors.GenerationError, 502, "generation_failed"),
    (errors.ModelLoadError, 503, "model_unavailable"),
    (errors.StoreUnavailable, 503, "store_unavailable"),
]
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error a route raises on purpose, with its status and code."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        extra: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or HTTP_CODES.get(status, "error")
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    extra: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}, **(extra or {})}, status, headers=headers
    )


def status_for(exc: errors.PolragError) -> tuple[int, str]:
    for kind, status, code in STATUS_OF:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal_error"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer", **exc.headers} if exc.status == 401 else exc.headers
        return error_response(exc.status, exc.code, exc.message, exc.extra, headers or None)

    @app.exception_handler(errors.PolragError)
    async def _polrag_error(request: Request, exc: errors.PolragError) -> JSONResponse:
        status, code = status_for(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        # Another process holds the collection's write lock: worth retrying after a while.
        busy = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(exc, errors.CollectionBusy) else None
        return error_response(status, code, exc.public_message, headers=busy)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI decodes a JSON body before the route's dependencies run, so a malformed body
        # would answer 400 before the API key is checked: check it here first.
        from api.deps import require_api_key

        if request.url.path.startswith("/v1"):
            try:
                require_api_key(request)
            except ApiError as denied:
                return await _api_error(request, denied)
        problems = []
        for error in exc.errors():
            if error.get("type") == "json_invalid":
                detail = (error.get("ctx") or {}).get("error", "")
                return error_response(
                    400, "malformed_json", f"the body is not valid JSON: {detail}".strip(": ")
                )
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            message = _plain_message(error)
            problems.append(f"{where}: {message}" if where else message)
        return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; the server log has the details")


def _plain_message(error: Mapping[str, Any]) -> str:
    """Pydantic's message, or a plainer one where it would puzzle a user of the API."""
    kind, value = error.get("type"), error.get("input")
    if kind == "model_attributes_type" and tuple(error.get("loc", ())) == ("body",):
        # FastAPI hands a body it did not read as JSON over as bytes: `curl -d` without a
        # content type sends a form, and pydantic's "valid dictionary" names neither.
        if isinstance(value, bytes | bytearray):
            return "send the body as JSON, with the header Content-Type: application/json"
        return "the body must be a JSON object ({...})"
    if (
        kind == "string_pattern_mismatch"
        and (error.get("ctx") or {}).get("pattern") == COLLECTION_NAME.pattern
    ):
        try:
            check_collection_name(str(value))
        except errors.ConfigError as exc:
            return str(exc)  # the same words as the CLI's, not the regular expression
    return str(error.get("msg", "invalid"))
