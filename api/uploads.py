"""Receiving uploaded files safely: size limits, real types, names that cannot escape a folder."""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_response
from rag.errors import BadDocumentError, ConfigError
from rag.settings import check_collection_name

MAX_FILES = 100
# A request body may hold this many files of the per-file limit; it is spooled to disk whole
# before the per-file checks, so this bounds the disk one request can take.
MAX_FULL_FILES = 20
JSON_BODY_LIMIT = 2 * 2**20
UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


@dataclass
class Received:
    """Uploaded files saved under ``folder`` (one per upload request), with their names."""

    folder: Path
    files: list[tuple[Path, str]]
    refused: list[tuple[str, str]]  # (name, reason): types polrag cannot read
    collection: str | None
    names: list[str] = field(default_factory=list)  # every file's name, in the order sent


def safe_name(raw: str | None, index: int) -> str:
    """The file's own name without any folder part ("../../x.pdf" -> "x.pdf"), printable, short."""
    name = PurePosixPath((raw or "").replace("\\", "/")).name
    name = UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    if not name:
        return f"upload-{index + 1}"
    stem, dot, suffix = name.rpartition(".")
    if len(name) > 200:
        name = (stem[: 190 - len(suffix)] + dot + suffix) if dot else name[:200]
    return name


async def receive_files(request: Request, folder: Path, limit_mb: int) -> Received:
    """Parse a multipart upload and save each file under ``folder`` (never whole in memory)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "send multipart/form-data with the files in the 'files' field")
    try:
        # Starlette spools each part to a temporary file past 1 MiB (malformed bodies become
        # a 400 there); BodyLimit caps the body's size while it arrives.
        form = await request.form(max_files=MAX_FILES, max_fields=20)
    except MultiPartException as exc:
        raise ApiError(400, f"malformed multipart body: {exc.message}") from None
    try:
        return await _save_files(form, folder, limit_mb)
    finally:
        await form.close()  # the spooled temporary files, on every path


async def _save_files(form: FormData, folder: Path, limit_mb: int) -> Received:
    from ingest.loaders import detect_file_kind

    limit = limit_mb * 2**20
    collection = form.get("collection")
    if collection is not None and not isinstance(collection, str):
        raise ApiError(422, "collection must be a text field")
    if collection:
        try:
            check_collection_name(collection)
        except ConfigError as exc:
            raise ApiError(422, str(exc)) from None
    uploads = form.getlist("files")
    if not uploads:
        raise ApiError(422, "no files: send one or more files in the multipart field 'files'")
    received = Received(folder, [], [], collection or None)
    for index, upload in enumerate(uploads):
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "the 'files' field must carry files, not text")
        name = safe_name(upload.filename, index)
        received.names.append(name)
        size = upload.size if upload.size is not None else _size_of(upload)
        if size > limit:
            raise ApiError(
                413,
                f"{name} is {size / 2**20:.1f} MiB; the limit is {limit_mb} MiB (POLRAG_MAX_UPLOAD_MB)",
            )
        # Stored under a generated name: the client's name never becomes a path.
        saved = folder / f"{index:03d}.upload"
        await run_in_threadpool(_save, upload, saved)
        try:
            kind = detect_file_kind(saved, name)
        except BadDocumentError as exc:
            received.refused.append((name, exc.reason))
            saved.unlink(missing_ok=True)
            continue
        # Named by its real type: "umowa" holding a PDF is read as the PDF it is.
        target = saved.rename(folder / f"{index:03d}.{kind}")
        received.files.append((target, name))
    return received


def _save(upload: UploadFile, target: Path) -> None:
    upload.file.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(upload.file, out, 2**20)


def _size_of(upload: UploadFile) -> int:
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


class BodyLimit:
    """Refuses request bodies past a limit (413) while they arrive, Content-Length or not."""

    def __init__(self, app: ASGIApp, upload_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        uploading = scope["path"].rstrip("/").endswith("/documents") and scope["method"] == "POST"
        limit = self.upload_limit if uploading else JSON_BODY_LIMIT
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(limit)(scope, receive, send)


class _BodyTooLarge(StarletteHTTPException):
    """Raised while the body is read: FastAPI and Starlette pass HTTP errors through as they are."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit / 2**20:g} MiB")


def _too_large(limit: int) -> ASGIApp:
    return error_response(413, "payload_too_large", f"request body over {limit / 2**20:g} MiB")
