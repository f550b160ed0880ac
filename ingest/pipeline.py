"""Batch ingestion: discover files, parse them in worker processes, embed, commit."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ingest.chunking import ChunkingParams, embedding_texts
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
from rag.errors import BadDocumentError, PolragError
from rag.library import Library
from rag.progress import IngestProgress, Stage, reporting_ocr
from rag.store import Store, StoreWriter

log = logging.getLogger(__name__)

SAME_NAME_IN_BATCH = "another file of this batch has the same name; rename one to keep both"
EMBED_BATCH_CHUNKS = 256  # chunks from several documents embedded together: fuller batches
# Parsed chunks that may wait for the model while it loads: parsing runs ahead of the load by
# this much and then waits, so memory stays bounded (tens of MB of text and terms).
WAITING_CHUNKS = 2048
SAVE_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one file: its name in the collection, status and document."""

    name: str
    status: str  # added | replaced | unchanged | failed
    document_id: str | None = None
    pages: int = 0
    chunks: int = 0
    error: str | None = None
    limit: str | None = None  # the setting a failed file is over, when that is why it failed


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to ingest: where it is, its name in the collection, what to record as its source."""

    path: Path
    name: str
    source: str = ""


@dataclass
class IngestReport:
    """What a batch did: one outcome per file (the lists by status derive from them)."""

    failed: list[FailedFile] = field(default_factory=list)  # with the paths, for the CLI
    chunks: int = 0  # embedded and stored so far
    pages: int = 0
    seconds: float = 0.0
    outcomes: list[FileOutcome] = field(default_factory=list)
    parsed: int = 0  # files past parsing (parsed, failed, or unchanged and never parsed)
    chunks_parsed: int = 0  # chunks of the parsed files: what embedding has before it
    chunks_embedded: int = 0
    model_loading: bool = False  # the embedder's weights are loading while files parse
    model_load_s: float | None = None  # how long they took, from the end of the checks for unchanged files

    def fail(self, failure: FailedFile, name: str | None = None) -> None:
        self.failed.append(failure)
        self.outcomes.append(
            FileOutcome(name or failure.path, "failed", error=failure.error, limit=failure.limit)
        )

    @property
    def added(self) -> list[str]:
        return self._named("added")

    @property
    def replaced(self) -> list[str]:
        return self._named("replaced")

    @property
    def unchanged(self) -> list[str]:
        return self._named("unchanged")

    @property
    def documents(self) -> int:
        return len(self.outcomes)

    def to_json(self) -> dict[str, object]:
        return {
            "added": len(self.added),
            "replaced": len(self.replaced),
            "unchanged": len(self.unchanged),
            "failed": [{"path": f.path, "error": f.error} for f in self.failed],
            "chunks": self.chunks,
        }

    def _named(self, status: str) -> list[str]:
        return [o.name for o in self.outcomes if o.status == status]


ProgressCallback = Callable[[IngestReport, int], None]


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
    except PolragError:
        # The model failed to load mid-batch: nothing was stored, so no new empty collection stays.
        if not existed:
            library.delete_collection(target.name, only_if_empty=True)
        raise
    if not existed and all(o.status == "failed" for o in report.outcomes):
        # Every file failed: the collection this batch created would only be an empty name.
        library.delete_collection(target.name, only_if_empty=True)
    report.seconds = time.perf_counter() - started
    return report


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
                _stage(progress, path, "failed")
                continue
            named.add(file.name)
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                suffix = path.suffix or "(no extension)"
                report.fail(FailedFile(str(path), f"unsupported file type {suffix!r}"), file.name)
                report.parsed += 1
                _stage(progress, path, "failed")
                continue
            try:
                # Unchanged files are skipped before any parsing: re-running a batch is cheap.
                small = path.stat().st_size <= max_bytes
                same = writer.existing(file.name, _sha256(path)) if small else None
            except OSError as exc:
                report.fail(FailedFile(str(path), f"cannot read file: {exc.strerror}"), file.name)
                report.parsed += 1
                _stage(progress, path, "failed")
                continue
            if same is not None:
                try:  # a document stored before originals were kept gets its original now
                    writer.keep_original(same.sha256, path)
                except (OSError, BadDocumentError) as exc:
                    log.warning("cannot keep the original of %s: %s", file.name, exc)
                report.outcomes.append(FileOutcome(file.name, "unchanged", same.id, same.pages, same.chunks))
                report.parsed += 1
                _stage(progress, path, "done")
            else:
                todo.append((path, file.name))
        if not todo:
            _notify(on_progress, report, total)
            return
        # The weights load on a thread of their own while the first files parse.
        loading = ModelLoading(embedder)
        report.model_loading = not loading.ready
        _notify(on_progress, report, total)
        # Closed on every path: a failed commit must not leave the parsers running.
        with contextlib.closing(
            _prepare_all(todo, embedder, params, max_bytes, limits, workers, ocr, progress)
        ) as prepared:
            batch = _Batch(writer, embedder, loading, report, on_progress, total, sources, progress)
            _commit_all(prepared, batch, names)
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
            _stage(progress, path, "parsing")
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
                _stage(progress, Path(job[0]), "parsing")  # a parser process reports no finer stages
                window.append(pool.submit(prepare_in_worker, job))
        while window:
            result = window.popleft().result()
            for job in itertools.islice(jobs, 1):
                _stage(progress, Path(job[0]), "parsing")
                window.append(pool.submit(prepare_in_worker, job))
            yield result


@dataclass
class _Batch:
    """What the commit loop hands around: the writer, the embedder and its load, the report."""

    writer: StoreWriter
    embedder: Any
    loading: ModelLoading
    report: IngestReport
    on_progress: ProgressCallback | None
    total: int
    sources: dict[str, str]
    progress: IngestProgress | None

    def notify(self) -> None:
        self.loading.raise_if_failed()  # a model that cannot load stops the batch at once
        if self.loading.ready and self.report.model_load_s is None:
            self.report.model_loading = False
            self.report.model_load_s = (self.loading.finished or self.loading.started) - self.loading.started
        _notify(self.on_progress, self.report, self.total)

    def stage(self, path: str, stage: Stage) -> None:
        _stage(self.progress, Path(path), stage)


def _commit_all(
    prepared: Iterable[PreparedDocument | FailedFile], batch: _Batch, names: dict[str, str]
) -> None:
    waiting: list[PreparedDocument] = []  # parsed, not yet embedded: the queue between the stages
    last_save = time.monotonic()
    for item in prepared:
        batch.report.parsed += 1
        if isinstance(item, FailedFile):
            batch.report.fail(item, names.get(item.path))
            batch.stage(item.path, "failed")
        else:
            waiting.append(item)
            batch.report.chunks_parsed += len(item.chunks)
            batch.stage(item.source_path, "parsed")
        batch.notify()
        chunks = sum(len(doc.chunks) for doc in waiting)
        # A full batch is embedded once the model is there; while it loads, parsing goes on
        # until WAITING_CHUNKS wait for it, and only then waits for the load.
        if chunks >= EMBED_BATCH_CHUNKS and (batch.loading.ready or chunks >= WAITING_CHUNKS):
            _embed_and_store(waiting, batch)
            waiting = []
            batch.notify()
            if time.monotonic() - last_save > SAVE_EVERY_S:
                batch.writer.flush()
                last_save = time.monotonic()
    if waiting:
        _embed_and_store(waiting, batch)
        batch.notify()


def _embed_and_store(docs: list[PreparedDocument], batch: _Batch) -> None:
    batch.loading.wait()
    embedder, report, progress = batch.embedder, batch.report, batch.progress
    for doc in docs:
        _stage(progress, Path(doc.source_path), "embedding")
    chunks = [chunk for doc in docs for chunk in doc.chunks]
    texts = embedding_texts(chunks, embedder.token_counter(), embedder.max_passage_tokens)
    # In slices: the embedder's working memory (token ids, activations) follows the slice,
    # not the largest document; only the vectors of a document are held until it commits.
    vectors = _encode_in_slices(embedder, texts)
    report.chunks_embedded += len(chunks)
    offset = 0
    for doc in docs:
        count = len(doc.chunks)
        doc_vectors = vectors[offset : offset + count]
        offset += count
        name = doc.document.file_name
        _stage(progress, Path(doc.source_path), "storing")
        try:
            source = batch.sources.get(doc.source_path, doc.source_path)
            status, document_id = batch.writer.add(
                doc.document, doc.chunks, doc_vectors, source_path=source, original=Path(doc.source_path)
            )
        except Exception as exc:  # disk full, locked database: report and keep going
            log.exception("storing %s failed", doc.source_path)
            report.fail(FailedFile(doc.source_path, f"cannot store document: {exc}"), name)
            _stage(progress, Path(doc.source_path), "failed")
            continue
        pages = len(doc.document.pages)
        report.outcomes.append(FileOutcome(name, status, document_id, pages, count))
        _stage(progress, Path(doc.source_path), "done")
        if status != "unchanged":
            report.chunks += count
            report.pages += pages


def _encode_in_slices(embedder, texts: list[str]):  # type: ignore[no-untyped-def]
    import numpy as np

    if len(texts) <= EMBED_BATCH_CHUNKS:
        return embedder.encode_passages(texts)
    return np.concatenate(
        [
            embedder.encode_passages(texts[start : start + EMBED_BATCH_CHUNKS])
            for start in range(0, len(texts), EMBED_BATCH_CHUNKS)
        ]
    )


def _stage(progress: IngestProgress | None, path: Path, stage: Stage) -> None:
    if progress is not None:
        progress.stage(str(path), stage)


def _notify(callback: ProgressCallback | None, report: IngestReport, total: int) -> None:
    if callback is not None:
        callback(report, total)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
