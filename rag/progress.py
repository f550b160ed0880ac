"""Per-file progress of an ingest: the stage each file is at, and the page OCR is reading.

The pipeline reports stages through an :class:`IngestProgress` it is handed; the OCR page loops,
deep inside the loaders, report through :func:`ocr_page`, which reaches the reporter that the
pipeline installed for the file being parsed on this thread (a context variable, so the loaders'
signatures stay as they are and a parser process without a reporter reports nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, Protocol, get_args

Stage = Literal["queued", "parsing", "ocr", "parsed", "embedding", "storing", "done", "failed"]
STAGES: tuple[Stage, ...] = get_args(Stage)


class IngestProgress(Protocol):
    """Receives stage changes of the files of a batch, each named by the path it was read from."""

    def stage(
        self, path: str, stage: Stage, ocr_page: int | None = None, ocr_pages: int | None = None
    ) -> None:
        """``path`` moved to ``stage``; during ``ocr``, OCR is reading page ``ocr_page`` of ``ocr_pages``."""


_ocr_reporter: ContextVar[Callable[[int, int], None] | None] = ContextVar("polrag_ocr_reporter", default=None)


@contextmanager
def reporting_ocr(progress: IngestProgress | None, path: str) -> Iterator[None]:
    """While parsing ``path`` on this thread, OCR pages are reported to ``progress`` as ``ocr`` stages."""
    if progress is None:
        yield
        return

    def report(page: int, pages: int) -> None:
        progress.stage(path, "ocr", page, pages)

    token = _ocr_reporter.set(report)
    try:
        yield
    finally:
        _ocr_reporter.reset(token)


def ocr_page(page: int, pages: int) -> None:
    """OCR starts reading page ``page`` of ``pages`` of the file being parsed on this thread."""
    reporter = _ocr_reporter.get()
    if reporter is not None:
        reporter(page, pages)
