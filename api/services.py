"""What the routes share: the library, the answerer, upload handling and background jobs."""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from api.errors import RETRY_AFTER_S, ApiError
from api.schemas import FileResult
from rag.answering import Answerer
from rag.errors import CollectionBusy
from rag.library import Library
from rag.page_images import PageImages
from rag.progress import IngestProgress, Stage
from rag.settings import Settings

if TYPE_CHECKING:
    from ingest.pipeline import FileOutcome

log = logging.getLogger(__name__)

MAX_JOBS_KEPT = 200
STALE_UPLOAD_S = 24 * 3600
GENERATION_THREADS = 16


@dataclass
class Job:
    """A background ingest of uploaded files; progress is read by GET /v1/jobs/{id}."""

    id: str
    collection: str
    total: int
    status: str = "queued"
    processed: int = 0
    files: list[FileResult] = field(default_factory=list)
    error: str | None = None


class JobProgress:
    """Keeps a job's per-file entries up to date as the pipeline reports stages (an IngestProgress).

    Entries are replaced whole (one list store each), so a reader on another thread sees a file's
    old entry or its new one, never half of each. A file's entry turns ``done``/``failed`` only
    with its outcome (:meth:`finish`): a pending entry never says it is done."""

    def __init__(self, job: Job, index_of: dict[str, int]) -> None:
        self.job = job
        self.index_of = index_of
        self._waiting = sorted(index_of.values())
        self._finished = 0

    def stage(
        self, path: str, stage: Stage, ocr_page: int | None = None, ocr_pages: int | None = None
    ) -> None:
        index = self.index_of.get(path)
        if index is None or stage in ("done", "failed"):
            return
        files = self.job.files
        if files[index].status == "pending":
            update = {"stage": stage, "ocr_page": ocr_page, "ocr_pages": ocr_pages}
            files[index] = files[index].model_copy(update=update)

    def finish(self, results: list[FileResult]) -> None:
        """Outcomes into their files' entries; ``results`` grows as files finish, each is taken once."""
        files = self.job.files
        for result in results[self._finished :]:
            index = next((i for i in self._waiting if files[i].filename == result.filename), None)
            if index is not None:
                self._waiting.remove(index)
                files[index] = result
        self._finished = max(self._finished, len(results))

    def abandon(self, reason: str) -> None:
        """The job failed as a whole: files it had not finished failed with it."""
        files = self.job.files
        for index in self.index_of.values():
            if files[index].status == "pending":
                files[index] = files[index].model_copy(
                    update={
                        "status": "failed",
                        "stage": "failed",
                        "error": reason,
                        "ocr_page": None,
                        "ocr_pages": None,
                    }
                )


class Services:
    """Loaded once in the app's lifespan and handed to routes by ``api.deps``."""

    def __init__(self, settings: Settings, library: Library, answerer: Answerer) -> None:
        self.settings = settings
        self.library = library
        self.answerer = answerer
        self.page_images = PageImages(settings.max_image_pixels, settings.page_image_cache_mb * 2**20)
        self.upload_dir = settings.index_dir / ".uploads"
        self._collection_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._jobs: dict[str, Job] = {}
        # Answers wait for the model one at a time; they wait on threads of their own, so a
        # queue of questions never takes the threads that searches and uploads run on.
        self.generation_threads = anyio.CapacityLimiter(GENERATION_THREADS)
        # Background jobs run on a few threads of their own; past the queue an upload is refused
        # at once (429) rather than piling up threads, memory and spooled files.
        self._job_threads = ThreadPoolExecutor(settings.upload_jobs, thread_name_prefix="polrag-job")
        self._job_slots = threading.BoundedSemaphore(settings.upload_jobs + settings.upload_jobs_queued)
        self._sweep_stale_uploads()
        library.sweep_deleted()

    def collection_name(self, name: str | None) -> str:
        return name or self.settings.collection

    def ingest(
        self,
        files: list[tuple[Path, str]],
        collection: str,
        on_file: Callable[[list[FileResult]], None] | None = None,
        *,
        wait: float | None = None,
        progress: IngestProgress | None = None,
    ) -> list[FileResult]:
        """Ingest saved uploads, one upload batch per collection at a time.

        ``wait`` bounds the wait for another batch to the same collection (default
        POLRAG_UPLOAD_WAIT_S); past it CollectionBusy (409 with Retry-After).
        """
        from ingest.pipeline import SourceFile, ingest_files

        sources = [SourceFile(path, name, source=f"upload:{name}") for path, name in files]

        def on_report(report, total: int) -> None:  # type: ignore[no-untyped-def]
            if on_file is not None:
                on_file(_results(report.outcomes))

        with self.holding(collection, wait=wait):
            # One parser thread, no worker processes: they would compete with the server.
            report = ingest_files(
                self.library,
                sources,
                collection=collection,
                workers=1,
                on_progress=on_report,
                progress=progress,
            )
        return _results(report.outcomes)

    def new_upload_folder(self) -> Path:
        folder = self.upload_dir / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def start_job(
        self, files: list[tuple[Path, str]], collection: str, folder: Path, refused: list[FileResult]
    ) -> Job:
        """Ingest on the job threads; ``refused`` files (wrong type) are reported with the job.

        ApiError 429 with Retry-After when every job thread is busy and the queue is full.
        """
        if not self._job_slots.acquire(blocking=False):
            raise ApiError(
                429,
                f"{self.settings.upload_jobs + self.settings.upload_jobs_queued} upload jobs are already "
                "running or queued (POLRAG_UPLOAD_JOBS, POLRAG_UPLOAD_JOBS_QUEUED); retry later",
                "too_many_jobs",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        pending = [FileResult(filename=name, status="pending", stage="queued") for _, name in files]
        job = Job(
            id=uuid.uuid4().hex,
            collection=collection,
            total=len(files) + len(refused),
            files=[*refused, *pending],
        )
        stages = JobProgress(job, {str(path): len(refused) + i for i, (path, _) in enumerate(files)})
        self._remember(job)

        def run() -> None:
            job.status = "running"
            try:

                def progress(results: list[FileResult]) -> None:
                    job.processed = len(refused) + len(results)
                    stages.finish(results)  # each file's outcome as soon as it is stored

                # A job has a thread of its own, so it may wait as long as a writer does.
                wait = self.settings.lock_timeout_s
                results = self.ingest(files, collection, on_file=progress, wait=wait, progress=stages)
                stages.finish(results)
                job.processed = job.total
                job.status = "done"
            except Exception as exc:  # reported through the job, never lost in a thread
                log.exception("ingest job %s failed", job.id)
                stages.abandon(str(exc))
                job.error, job.status = str(exc), "failed"
            finally:
                shutil.rmtree(folder, ignore_errors=True)
                self._job_slots.release()

        try:
            self._job_threads.submit(run)
        except RuntimeError:  # shutting down
            self._job_slots.release()
            raise ApiError(503, "the service is shutting down", "unavailable") from None
        return job

    def job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        finished = [j.id for j in self._jobs.values() if j.status in ("done", "failed")]
        for old in finished[: max(0, len(self._jobs) - MAX_JOBS_KEPT)]:
            del self._jobs[old]

    def _sweep_stale_uploads(self) -> None:
        """Upload folders a crash left behind (a live request's folder is never this old)."""
        if not self.upload_dir.is_dir():
            return
        cutoff = time.time() - STALE_UPLOAD_S
        for folder in self.upload_dir.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def holding(self, collection: str, *, wait: float | None = None) -> Iterator[None]:
        """This server's turn to change ``collection`` (uploads, collection delete), one at a time.

        The wait is bounded: a request waiting here holds a thread of the shared pool that
        searches need too. Past ``wait`` (default POLRAG_UPLOAD_WAIT_S): CollectionBusy (409).
        """
        timeout = self.settings.upload_wait_s if wait is None else wait
        lock = self._lock_for(collection)
        if not lock.acquire(timeout=timeout):
            setting = " (POLRAG_UPLOAD_WAIT_S)" if wait is None else ""
            raise CollectionBusy(
                f"collection {collection!r} is busy with another upload; waited {timeout:g} s{setting}, "
                "retry later"
            )
        try:
            yield
        finally:
            lock.release()

    def delete_collection(self, name: str) -> None:
        """Remove a collection and its files; the default one comes back empty at once."""
        with self.holding(name):
            self.library.delete_collection(name)
        if name == self.settings.collection:
            self.library.collection(name, create=True)

    def _lock_for(self, collection: str) -> threading.Lock:
        with self._locks_guard:
            return self._collection_locks.setdefault(collection, threading.Lock())

    def close(self) -> None:
        # Running jobs finish (their collections stay consistent); queued ones are dropped.
        self._job_threads.shutdown(wait=True, cancel_futures=True)
        self.library.close()


def _results(outcomes: Sequence[FileOutcome]) -> list[FileResult]:
    """The pipeline's per-file outcomes as the API reports them."""
    return [
        FileResult(
            id=o.document_id,
            filename=o.name,
            status=o.status,  # type: ignore[arg-type]
            pages=o.pages,
            chunks=o.chunks,
            error=o.error,
            limit=o.limit,
            stage="failed" if o.status == "failed" else "done",
        )
        for o in outcomes
    ]
