"""Small file helpers of a collection folder: atomic JSON, directory fsync, the writer's lock."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from rag.errors import CollectionBusy

WRITE_LOCK = "write.lock"


@contextmanager
def file_lock(folder: Path, timeout: float, name: str) -> Iterator[None]:
    """The collection's write lock, held across processes (and threads: each call opens the
    lock file anew, and flock excludes other open files)."""
    from filelock import FileLock, Timeout

    lock = FileLock(folder / WRITE_LOCK)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise CollectionBusy(
            f"collection {name!r} is being written by another process; "
            f"waited {timeout:.0f} s for its lock (POLRAG_LOCK_TIMEOUT_S)"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write the new file to; once written it is fsynced and
    renamed over ``path``, and the rename made durable: readers see the old file or the new one,
    and a power cut cannot leave a renamed but empty file.

    The name holds the process and thread, so concurrent writers never share one; a writer killed
    mid-write leaves it behind for :func:`remove_stale_temporaries`.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    yield tmp
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json(path: Path, data: dict[str, object]) -> None:
    """Write ``data`` durably and atomically: readers see the old file or the new one."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path) -> None:
    """Delete the half-written ``.NAME.*.tmp`` files of writers killed mid-save.

    Only for the holder of the collection's write lock: every save happens under it, so no
    temporary file it finds belongs to a live writer. Left alone, each kill -9 during a save
    would leave one behind (a FAISS file can be gigabytes).
    """
    for stale in folder.glob(".*.tmp"):
        with suppress(OSError):
            stale.unlink()
