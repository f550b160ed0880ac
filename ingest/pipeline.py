"""Batch ingestion: discover files, parse them in worker processes, embed, commit."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ingest.chunking import ChunkingParams
from ingest.embed_stage import Batch, commit_all, notify_progress, set_stage
from ingest.limits import DocumentLimits
from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.model_loading import ModelLoading
from ingest.ocr import OcrOptions
from ingest.prepare import (
    FailedFile,
    PreparedDocument,
    init_worker,
    prepare_file,
    prepare_in_worker,
    spawning_without_sigint,
)
from ingest.report import FileOutcome, IngestReport, ProgressCallback
from rag.errors import BadDocumentError
from rag.library import Library
from rag.progress import IngestProgress, reporting_ocr
from rag.store import Store

__all__ = ["FileOutcome", "IngestReport", "ProgressCallback", "SourceFile", "ingest_files", "ingest_paths"]

log = logging.getLogger(__name__)

SAME_NAME_IN_BATCH = "another file of this batch has the same name; rename one to keep both"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to ingest: where it is, its name in the collection, what to record as its source."""

    path: Path
    name: str
    source: str = ""


def discover(paths: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[FailedFile]]:
    """Files to ingest, each with its name in the collection, and the paths that are not there.

    A file named directly keeps its own name; files found in a folder are named by their
    path inside it ("2020/ustawa.pdf"), so equal names in different sub-folders stay apart.
    Two files of one batch that would get the same name are not both ingested: the second
    would replace the first. The later one is reported instead.
    """
    found: list[tuple[Path, str]] = []
    missing: list[FailedFile] = []
    first_of: dict[str, Path] = {}

    def add(path: Path, name: str) -> None:
        name = _printable_name(name)
        if name in first_of:
            if first_of[name].resolve() != path.resolve():  # the same file named twice: once
                missing.append(FailedFile(str(path), _same_name_reason(name, first_of[name])))
            return
        first_of[name] = path
        found.append((path, name))

    for path in paths:
        if path.is_file():
            add(path, path.name)
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if any(part.startswith((".", "~$")) for part in relative.parts):
                    continue  # hidden files, editor locks
                if child.is_file():
                    add(child, relative.as_posix())
        else:
            missing.append(FailedFile(str(path), "no such file or folder"))
    return found, missing


def _same_name_reason(name: str, first: Path) -> str:
    return (
        f"another file of this batch ({first}) has the same name {name!r} in the collection; "
        "ingest their common folder so each keeps its path, or rename one"
    )


def _printable_name(name: str) -> str:
    """A name the catalogue can store: bytes of a non-UTF-8 file name become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def ingest_paths(
    library: Library,
    paths: Sequence[Path],
    *,
    collection: str | None = None,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Ingest files and folders into a collection; bad files are reported, never fatal."""
    files, missing = discover(paths)
    sources = [SourceFile(path, name) for path, name in files]
    return ingest_files(
        library, sources, collection=collection, workers=workers, on_progress=on_progress, missing=missing
    )


def ingest_files(
    library: Library,
    files: Sequence[SourceFile],
    *,
    collection: str | None = None,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
    missing: Sequence[FailedFile] = (),
    progress: IngestProgress | None = None,
) -> IngestReport:
    """Ingest named files into a collection, one transaction per document.

    ``report.outcomes`` says, per file, what happened (the HTTP upload answers with it);
    ``progress`` hears each file's stage as it changes (files named by ``str(path)``).
    """
    started = time.perf_counter()
    report = IngestReport()
    for failure in missing:
        report.fail(failure)
    report.parsed = len(report.failed)
    settings = library.settings
    existed = (collection or settings.collection) in library.collection_names()
    # The weights are not needed yet: the collection needs only the dimension and the chunker
    # only the tokenizer, which the embedder reads from the model's files (see ModelLoading).
    target = library.collection(collection, create=True)
    try:
        _ingest_into(target, library, files, report, workers, on_progress, progress)
    except BaseException:
        # The model failed to load mid-batch, or Ctrl-C came while it loaded (the collection is
        # made before the weights are there): a new collection that got nothing does not stay.
        if not existed:
            _remove_if_empty(library, target.name)
        raise
    if not existed and all(o.status == "failed" for o in report.outcomes):
        # Every file failed: the collection this batch created would only be an empty name.
        library.delete_collection(target.name, only_if_empty=True)
    report.seconds = time.perf_counter() - started
    return report


def _remove_if_empty(library: Library, name: str) -> None:
    try:
        library.delete_collection(name, only_if_empty=True)
    except Exception:  # the batch's own error is the one to report
        log.warning("cannot remove the empty collection %s", name, exc_info=True)


def _ingest_into(
    target: Store,
    library: Library,
    files: Sequence[SourceFile],
    report: IngestReport,
    workers: int | None,
    on_progress: ProgressCallback | None,
    progress: IngestProgress | None,
) -> None:
    settings = library.settings
    embedder = library.embedder
    params = ChunkingParams(settings.chunk_tokens, settings.chunk_overlap_tokens, embedder.max_passage_tokens)
    max_bytes = settings.max_file_mb * 2**20
    limits = DocumentLimits.from_settings(settings)
    ocr = OcrOptions.from_settings(settings)
    workers = settings.worker_count if workers is None else workers
    total = len(files) + len(report.failed)
    names = {str(file.path): file.name for file in files}
    sources = {str(file.path): file.source or _printable_name(str(file.path)) for file in files}

    with target.writer() as writer:
        todo = []
        named: set[str] = set()
        for file in files:
            path = file.path
            if file.name in named:  # the later one would replace the first within the batch
                report.fail(FailedFile(str(path), SAME_NAME_IN_BATCH), file.name)
                report.parsed += 1
                set_stage(progress, path, "failed")
                continue
            named.add(file.name)
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                suffix = path.suffix or "(no extension)"
                report.fail(FailedFile(str(path), f"unsupported file type {suffix!r}"), file.name)
                report.parsed += 1
                set_stage(progress, path, "failed")
                continue
            try:
                # Unchanged files are skipped before any parsing: re-running a batch is cheap.
                small = path.stat().st_size <= max_bytes
                same = writer.existing(file.name, _sha256(path)) if small else None
            except OSError as exc:
                report.fail(FailedFile(str(path), f"cannot read file: {exc.strerror}"), file.name)
                report.parsed += 1
                set_stage(progress, path, "failed")
                continue
            if same is not None:
                try:  # a document stored before originals were kept gets its original now
                    writer.keep_original(same.sha256, path)
                except (OSError, BadDocumentError) as exc:
                    log.warning("cannot keep the original of %s: %s", file.name, exc)
                report.outcomes.append(FileOutcome(file.name, "unchanged", same.id, same.pages, same.chunks))
                report.parsed += 1
                set_stage(progress, path, "done")
            else:
                todo.append((path, file.name))
        if not todo:
            notify_progress(on_progress, report, total)
            return
        # The weights load on a thread of their own while the first files parse.
        loading = ModelLoading(embedder)
        report.model_loading = not loading.ready
        notify_progress(on_progress, report, total)
        # Closed on every path: a failed commit must not leave the parsers running.
        with contextlib.closing(
            _prepare_all(todo, embedder, params, max_bytes, limits, workers, ocr, progress)
        ) as prepared:
            batch = Batch(writer, embedder, loading, report, on_progress, total, sources, progress)
            commit_all(prepared, batch, names)
        # Every file may have failed to parse: the load still ends (and says if it failed) before
        # the command does, rather than be cut off mid-way at exit.
        batch.loading.wait()


def _prepare_all(
    todo: list[tuple[Path, str]],
    embedder,
    params: ChunkingParams,
    max_bytes: int,
    limits: DocumentLimits,
    workers: int,  # type: ignore[no-untyped-def]
    ocr: OcrOptions | None = None,
    progress: IngestProgress | None = None,
) -> Generator[PreparedDocument | FailedFile, None, None]:
    if workers <= 1 or len(todo) <= 1:
        counter = embedder.token_counter()

        def prepare(path: Path, name: str) -> PreparedDocument | FailedFile:
            set_stage(progress, path, "parsing")
            with reporting_ocr(progress, str(path)):  # on the thread that parses it
                return prepare_file(path, name, counter, params, max_bytes, limits, ocr)

        if workers == 0 or len(todo) <= 1:
            for path, name in todo:
                yield prepare(path, name)
            return
        # One parser thread ahead of the embedder: torch releases the GIL in its kernels, so
        # the next documents are parsed while this batch embeds, without a process to spawn.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="polrag-parse") as threads:
            ahead: deque[Future[PreparedDocument | FailedFile]] = deque()
            pending = iter(todo)
            for path, name in itertools.islice(pending, 4):
                ahead.append(threads.submit(prepare, path, name))
            while ahead:
                result = ahead.popleft().result()
                for path, name in itertools.islice(pending, 1):
                    ahead.append(threads.submit(prepare, path, name))
                yield result
        return
    # spawn, not fork: the parent holds torch threads that a fork would copy mid-flight.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=context,
        initializer=init_worker,
        # A parser process per core already: each reads its scanned pages on one thread.
        initargs=(
            embedder.token_counter(),
            params,
            max_bytes,
            limits,
            replace(ocr, threads=1) if ocr else None,
        ),
    ) as pool:
        # A bounded window of jobs: parsers that outrun the embedder must not pile parsed
        # documents up in memory (pool.map would submit the whole batch at once).
        window: deque[Future[PreparedDocument | FailedFile]] = deque()
        jobs = iter((str(path), name) for path, name in todo)
        with spawning_without_sigint():  # the first submits start the processes
            for job in itertools.islice(jobs, 2 * workers):
                set_stage(progress, Path(job[0]), "parsing")  # a parser process reports no finer stages
                window.append(pool.submit(prepare_in_worker, job))
        while window:
            result = window.popleft().result()
            for job in itertools.islice(jobs, 1):
                set_stage(progress, Path(job[0]), "parsing")
                window.append(pool.submit(prepare_in_worker, job))
            yield result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
