"""What the routes share: the library, the answerer, upload handling and background jobs."""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from api.errors import RETRY_AFTER_S, ApiError
from api.schemas import FileResult
from rag.answering import Answerer
from rag.errors import CollectionBusy
from rag.library import Library
from rag.page_images import PageImages
from rag.settings import Settings

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
        on_file: Callable[[int], None] | None = None,
        *,
        wait: float | None = None,
    ) -> list[FileResult]:
        """Ingest saved uploads, one upload batch per collection at a time.

        ``wait`` bounds the wait for another batch to the same collection (default
        POLRAG_UPLOAD_WAIT_S); past it CollectionBusy (409 with Retry-After).
        """
        from ingest.pipeline import SourceFile, ingest_files

        sources = [SourceFile(path, name, source=f"upload:{name}") for path, name in files]

        def progress(report, total: int) -> None:  # type: ignore[no-untyped-def]
            if on_file is not None:
                on_file(report.documents)

        with self.holding(collection, wait=wait):
            # One parser thread, no worker processes: they would compete with the server.
            report = ingest_files(
                self.library, sources, collection=collection, workers=1, on_progress=progress
            )
        return [
            FileResult(
                id=o.document_id,
                filename=o.name,
                status=o.status,  # type: ignore[arg-type]
                pages=o.pages,
                chunks=o.chunks,
                error=o.error,
                limit=o.limit,
            )
            for o in report.outcomes
        ]

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
        job = Job(
            id=uuid.uuid4().hex, collection=collection, total=len(files) + len(refused), files=list(refused)
        )
        self._remember(job)

        def run() -> None:
            job.status = "running"
            try:

                def progress(done: int) -> None:
                    job.processed = len(refused) + done

                # A job has a thread of its own, so it may wait as long as a writer does.
                wait = self.settings.lock_timeout_s
                job.files = list(refused) + self.ingest(files, collection, on_file=progress, wait=wait)
                job.processed = job.total
                job.status = "done"
            except Exception as exc:  # reported through the job, never lost in a thread
                log.exception("ingest job %s failed", job.id)
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
