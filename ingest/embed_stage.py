"""The embedding stage of a batch: parsed documents wait in a bounded queue, embed, and commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.chunking import embedding_texts
from ingest.model_loading import ModelLoading
from ingest.prepare import FailedFile, PreparedDocument
from ingest.report import FileOutcome, IngestReport, ProgressCallback
from rag.progress import IngestProgress, Stage
from rag.store import StoreWriter

log = logging.getLogger(__name__)

EMBED_BATCH_CHUNKS = 256  # chunks from several documents embedded together: fuller batches
# Parsed chunks that may wait for the model while it loads: parsing runs ahead of the load by
# this much and then waits, so memory stays bounded (tens of MB of text and terms).
WAITING_CHUNKS = 2048
SAVE_EVERY_S = 30.0


@dataclass
class Batch:
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
        notify_progress(self.on_progress, self.report, self.total)

    def stage(self, path: str, stage: Stage) -> None:
        set_stage(self.progress, Path(path), stage)


def commit_all(
    prepared: Iterable[PreparedDocument | FailedFile], batch: Batch, names: dict[str, str]
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
            for group in _batches(waiting):
                _embed_and_store(group, batch)
                batch.notify()
            waiting = []
            if time.monotonic() - last_save > SAVE_EVERY_S:
                batch.writer.flush()
                last_save = time.monotonic()
    for group in _batches(waiting):
        _embed_and_store(group, batch)
        batch.notify()


def _batches(docs: list[PreparedDocument]) -> Iterator[list[PreparedDocument]]:
    """``docs`` in runs of whole documents of about EMBED_BATCH_CHUNKS chunks each.

    What waited for the model (up to WAITING_CHUNKS) is embedded and committed a batch at a time,
    as the rest is: embedded whole, nothing was stored until all of it was, so a crash or Ctrl-C
    in that minute kept nothing and the progress stood still.
    """
    group: list[PreparedDocument] = []
    chunks = 0
    for doc in docs:
        group.append(doc)
        chunks += len(doc.chunks)
        if chunks >= EMBED_BATCH_CHUNKS:
            yield group
            group, chunks = [], 0
    if group:
        yield group


def _embed_and_store(docs: list[PreparedDocument], batch: Batch) -> None:
    batch.loading.wait()
    embedder, report, progress = batch.embedder, batch.report, batch.progress
    for doc in docs:
        set_stage(progress, Path(doc.source_path), "embedding")
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
        set_stage(progress, Path(doc.source_path), "storing")
        try:
            source = batch.sources.get(doc.source_path, doc.source_path)
            status, document_id = batch.writer.add(
                doc.document, doc.chunks, doc_vectors, source_path=source, original=Path(doc.source_path)
            )
        except Exception as exc:  # disk full, locked database: report and keep going
            log.exception("storing %s failed", doc.source_path)
            report.fail(FailedFile(doc.source_path, f"cannot store document: {exc}"), name)
            set_stage(progress, Path(doc.source_path), "failed")
            continue
        pages = len(doc.document.pages)
        report.outcomes.append(FileOutcome(name, status, document_id, pages, count))
        set_stage(progress, Path(doc.source_path), "done")
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


def set_stage(progress: IngestProgress | None, path: Path, stage: Stage) -> None:
    if progress is not None:
        progress.stage(str(path), stage)


def notify_progress(callback: ProgressCallback | None, report: IngestReport, total: int) -> None:
    if callback is not None:
        callback(report, total)
