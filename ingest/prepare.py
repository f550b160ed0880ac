"""Parse, clean and chunk one file: the work that runs in parser processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ingest.chunking import ChunkingParams, TokenCounter, chunk_document, join_pages
from ingest.clean import clean_pages
from ingest.limits import DEFAULT_LIMITS, DocumentLimits
from ingest.loaders import load_file, no_text_reason
from ingest.ocr import OcrOptions
from rag.analysis import default_analyzer
from rag.collection import document_id_for
from rag.errors import BadDocumentError, DocumentTooLarge
from rag.types import Chunk, ParsedDocument


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A file ready to embed: its cleaned pages and its chunks."""

    document: ParsedDocument
    chunks: tuple[Chunk, ...]
    source_path: str


@dataclass(frozen=True, slots=True)
class FailedFile:
    path: str
    error: str
    limit: str | None = None  # the setting whose limit the file is over, if that is why


def prepare_file(
    path: Path,
    name: str,
    counter: TokenCounter,
    params: ChunkingParams,
    max_bytes: int,
    limits: DocumentLimits = DEFAULT_LIMITS,
    ocr: OcrOptions | None = None,
) -> PreparedDocument | FailedFile:
    """Load, clean and chunk ``path``; a bad file comes back as :class:`FailedFile`."""
    try:
        parsed = load_file(path, max_bytes=max_bytes, limits=limits, ocr=ocr)
        # OCR'd text is laid out in lines like a PDF's: it is reflowed and dehyphenated too.
        reflow = parsed.media_type == "application/pdf" or any(p.method == "ocr" for p in parsed.pages)
        pages = clean_pages(parsed.pages, reflow=reflow)
        if not any(page.text for page in pages):
            raise BadDocumentError(no_text_reason(parsed.media_type.split("/")[-1], pages, ocr))
        # Each page keeps where it starts in the document's text: chunks' spans count in it.
        _, starts = join_pages(pages)
        pages = [replace(page, offset=start) for page, start in zip(pages, starts, strict=True)]
        document = ParsedDocument(
            file_name=name,
            media_type=parsed.media_type,
            sha256=parsed.sha256,
            pages=tuple(pages),
            size_bytes=parsed.size_bytes,
        )
        chunks = chunk_document(
            pages, counter, params, document_id=document_id_for(parsed.sha256, name), file_name=name
        )
        limits.check_chunks(len(chunks))  # before lemmatising: that is the costly part
        # Lemmatising here runs in the parser processes, in parallel with embedding.
        analyzer = default_analyzer()
        chunks = [replace(chunk, terms=analyzer.analyse_text(chunk.text)) for chunk in chunks]
    except DocumentTooLarge as exc:
        return FailedFile(str(path), exc.reason, exc.setting)
    except BadDocumentError as exc:
        return FailedFile(str(path), exc.reason)
    except Exception as exc:  # a parser bug must not stop the batch; report it instead
        return FailedFile(str(path), f"cannot process file: {type(exc).__name__}: {exc}")
    if not chunks:
        return FailedFile(str(path), "no text found in the document")
    return PreparedDocument(document, tuple(chunks), str(path))


# -- parser processes ------------------------------------------------------------
# Each worker gets only the embedder's token counter (pickled: a tokenizer, or an estimate),
# never the model.


@dataclass(frozen=True, slots=True)
class _WorkerState:
    counter: TokenCounter
    params: ChunkingParams
    max_bytes: int
    limits: DocumentLimits
    ocr: OcrOptions | None = None


_worker: _WorkerState | None = None


def init_worker(
    counter: TokenCounter,
    params: ChunkingParams,
    max_bytes: int,
    limits: DocumentLimits = DEFAULT_LIMITS,
    ocr: OcrOptions | None = None,
) -> None:
    import os
    import signal

    global _worker
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # One Tesseract thread per process: there is one parser process per core, so OpenMP threads
    # of an OpenMP-built libtesseract would only fight each other. Read when it loads, after this.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    # Ctrl-C reaches the whole process group: the ingest stops the pool itself, and each
    # parser printing its own KeyboardInterrupt traceback only buries the one line that matters.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(os.getppid())
    _worker = _WorkerState(counter, params, max_bytes, limits, ocr)


@contextmanager
def spawning_without_sigint() -> Iterator[None]:
    """Start parser processes that never see Ctrl-C; a Ctrl-C meanwhile waits until they are up.

    init_worker ignores SIGINT, but only once the process has imported its modules and unpickled
    the tokenizer. A Ctrl-C in those first seconds (early in a batch, while the model loads)
    printed each parser's KeyboardInterrupt traceback, or, stopping the ingest while it still
    wrote a parser's start-up data, that parser's EOFError. So SIGINT is blocked in the starting
    thread (the mask is inherited across fork and exec: the parsers start with it blocked), and
    one arriving meanwhile is held and raised as KeyboardInterrupt once they have started.
    """
    import signal
    import threading

    held: list[int] = []
    main = threading.current_thread() is threading.main_thread()  # signal.signal's rule
    previous = signal.signal(signal.SIGINT, lambda number, _: held.append(number)) if main else None
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if main:  # None: a handler not set from Python, which Python cannot put back
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if held:
        raise KeyboardInterrupt


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """Leave when the ingesting process is gone (kill -9): nothing else would end this one.

    A worker waits on a queue whose write end it holds itself, so it never sees EOF.
    """
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="polrag-parent-watch", daemon=True).start()


def prepare_in_worker(job: tuple[str, str]) -> PreparedDocument | FailedFile:
    assert _worker is not None, "init_worker runs first in every parser process"
    path, name = job
    worker = _worker
    return prepare_file(
        Path(path), name, worker.counter, worker.params, worker.max_bytes, worker.limits, worker.ocr
    )
