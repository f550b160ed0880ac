"""Upload, list, show and delete documents."""

from __future__ import annotations

import shutil
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep
from api.errors import ApiError
from api.schemas import DocumentList, DocumentOut, ErrorResponse, FileResult, JobOut, OcrPageOut, UploadResult
from api.services import Job
from api.uploads import receive_files
from rag.errors import DocumentNotFound
from rag.settings import COLLECTION_NAME
from rag.types import DocumentInfo

router = APIRouter(tags=["documents"])
CollectionQuery = Annotated[
    str | None, Query(pattern=COLLECTION_NAME.pattern, description="Collection (default: POLRAG_COLLECTION).")
]


@router.post(
    "/documents",
    response_model=UploadResult,
    responses={
        202: {"model": JobOut},
        413: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["files"],
                        "properties": {
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                            "collection": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def upload_documents(
    request: Request,
    services: ServicesDep,
    background: Annotated[bool, Query(description="Ingest as a job: 202 with its URL.")] = False,
    collection: CollectionQuery = None,
) -> Response:
    """Add PDF, DOCX, ODT, HTML, TXT or MD files (multipart field ``files``) to a collection.

    The collection is the form field ``collection`` or the query parameter, as for the other
    document routes; the two must agree when both are given.
    """
    folder = services.new_upload_folder()
    handed_to_job = False
    try:
        received = await receive_files(request, folder, services.settings.max_upload_mb)
        if collection and received.collection and collection != received.collection:
            raise ApiError(
                422,
                f"the form names collection {received.collection!r} and the query {collection!r}: "
                "give one, or the same in both",
            )
        collection = services.collection_name(received.collection or collection)
        refused = [
            FileResult(filename=name, status="failed", error=reason, stage="failed")
            for name, reason in received.refused
        ]
        if not received.files:
            status = 415 if refused else 422
            raise ApiError(status, _summary(refused), extra={"files": [r.model_dump() for r in refused]})
        if background:
            job = services.start_job(received.files, collection, folder, refused=refused)
            handed_to_job = True  # the job removes the folder when it ends
            return JSONResponse(
                _job_json(job, request), status_code=202, headers={"Location": _job_url(job, request)}
            )
        ingested = await run_in_threadpool(services.ingest, received.files, collection)
        results = _in_upload_order(refused + ingested, received.names)
    finally:
        if not handed_to_job:
            shutil.rmtree(folder, ignore_errors=True)
    if all(r.status == "failed" for r in results):
        # Over a limit (POLRAG_MAX_DOCUMENT_*): 413, the file is too large once read, not malformed.
        status, code = (413, "document_too_large") if all(r.limit for r in results) else (422, "bad_document")
        raise ApiError(status, _summary(results), code, extra={"files": [r.model_dump() for r in results]})
    return JSONResponse(UploadResult(collection=collection, files=results).model_dump())


@router.get("/jobs/{job_id}", response_model=JobOut, responses={404: {"model": ErrorResponse}})
def get_job(job_id: str, request: Request, services: ServicesDep) -> dict[str, object]:
    """Progress of a background ingest."""
    job = services.job(job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id!r}", "job_not_found")
    return _job_json(job, request)


@router.get("/documents", response_model=DocumentList, responses={404: {"model": ErrorResponse}})
def list_documents(services: ServicesDep, collection: CollectionQuery = None) -> DocumentList:
    target = services.library.collection(collection)
    return DocumentList(collection=target.name, documents=[_document(d) for d in target.documents()])


@router.get("/documents/{document_id}", response_model=DocumentOut, responses={404: {"model": ErrorResponse}})
def get_document(document_id: str, services: ServicesDep, collection: CollectionQuery = None) -> DocumentOut:
    target = services.library.collection(collection)
    document = target.document(document_id)
    if document is None:
        raise DocumentNotFound(f"no document with id {document_id!r} in collection {target.name!r}")
    floor = services.library.settings.ocr_confidence_floor
    out = _document(document)
    out.ocr_pages = [
        OcrPageOut(
            page=r.page, confidence=r.confidence, words=r.words, low_confidence=r.low_confidence(floor)
        )
        for r in target.page_reads(document_id)
    ]
    return out


@router.delete("/documents/{document_id}", status_code=204, responses={404: {"model": ErrorResponse}})
def delete_document(document_id: str, services: ServicesDep, collection: CollectionQuery = None) -> Response:
    """Remove a document: its chunks, vectors and lexical entries together."""
    target = services.library.collection(collection)
    if not target.delete_document(document_id):
        raise DocumentNotFound(f"no document with id {document_id!r} in collection {target.name!r}")
    return Response(status_code=204)


def _document(info: DocumentInfo) -> DocumentOut:
    return DocumentOut.model_validate(info)


def _in_upload_order(results: list[FileResult], names: list[str]) -> list[FileResult]:
    # Refused types and failed files came first, then the stored ones as they committed; a
    # client reads the answer beside the list it sent. Two files of one name keep their order.
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        first.setdefault(name, index)
    return sorted(results, key=lambda result: first.get(result.filename, len(names)))


def _summary(results: list[FileResult]) -> str:
    failures = [f"{r.filename}: {r.error}" for r in results if r.status == "failed"]
    return "no file could be ingested: " + "; ".join(failures[:5])


def _job_url(job: Job, request: Request) -> str:
    return str(request.url_for("get_job", job_id=job.id).path)


def _job_json(job: Job, request: Request) -> dict[str, object]:
    return JobOut(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        collection=job.collection,
        total=job.total,
        processed=job.processed,
        files=job.files,
        error=job.error,
        url=_job_url(job, request),
    ).model_dump()
