"""The embedding model loads on a thread of its own while the first files of a batch parse."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from rag.embedder import TextEmbedder


class ModelLoading:
    """``embedder.warm_up()`` running on a daemon thread; :meth:`wait` hands over its outcome.

    A daemon thread: Ctrl-C during a load ends the command at once instead of waiting for the
    weights it no longer needs. The times are kept for the progress display and the benchmark.
    """

    def __init__(self, embedder: TextEmbedder) -> None:
        self._done: Future[None] = Future()
        self.started = time.monotonic()
        self.finished: float | None = None
        threading.Thread(target=self._run, args=(embedder,), name="polrag-model-load", daemon=True).start()

    def _run(self, embedder: TextEmbedder) -> None:
        try:
            embedder.warm_up()
        except BaseException as exc:  # handed to the ingest, which reports it
            self.finished = time.monotonic()
            self._done.set_exception(exc)
        else:
            self.finished = time.monotonic()
            self._done.set_result(None)

    @property
    def ready(self) -> bool:
        """Loaded (or failed to): :meth:`wait` no longer blocks."""
        return self._done.done()

    def wait(self) -> None:
        """Block until the model is loaded; raises what the load raised (ModelLoadError)."""
        self._done.result()

    def raise_if_failed(self) -> None:
        """Raise the load's error now if it failed: a batch stops parsing for a model it cannot use."""
        if self._done.done():
            self._done.result()
