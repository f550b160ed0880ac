"""Searches never change the BM25 index: many threads may search while a writer adds."""

from __future__ import annotations

import sys
import threading

import numpy as np

from rag.lexical_index import LexicalIndex


def test_concurrent_searches_right_after_many_adds_see_every_chunk() -> None:
    """Issue 11: a search sealed pending chunks in place, so four threads searching at once
    saw 0 hits or raised IndexError at the document-frequency lookup."""
    old_interval = sys.getswitchinterval()
    try:
        for trial in range(20):
            sys.setswitchinterval(old_interval)
            index = LexicalIndex()
            for i in range(300):
                index.add(i, [f"t{i % 13}", "wspólne", f"r{trial}"])
            sys.setswitchinterval(1e-6)  # switch threads often, as a loaded server does
            results = _search_at_once(index, threads=4)
            for result in results:
                assert isinstance(result, np.ndarray), f"trial {trial}: {result!r}"
                assert len(result) == 300, f"trial {trial}: {len(result)} hits instead of 300"
    finally:
        sys.setswitchinterval(old_interval)


def _search_at_once(index: LexicalIndex, threads: int) -> list[object]:
    """Start ``threads`` searches together; each one's ids, or the exception it raised."""
    start = threading.Barrier(threads)
    results: list[object] = []

    def search() -> None:
        start.wait()
        try:
            results.append(index.search(["wspólne"], 300)[0])
        except Exception as exc:  # noqa: BLE001 - the failure under test
            results.append(exc)

    running = [threading.Thread(target=search) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return results


def test_searches_during_a_stream_of_adds_and_removes_never_fail() -> None:
    """A writer keeps adding and removing while readers search: every search sees the
    chunks that were there from the start, and never raises."""
    index = LexicalIndex()
    for i in range(200):
        index.add(i, ["stały", f"t{i % 5}"])
    stop = threading.Event()
    failures: list[str] = []
    searches = [0]

    def read() -> None:
        while not stop.is_set():
            try:
                ids, _ = index.search(["stały"], 1000)
            except Exception as exc:  # noqa: BLE001 - the failure under test
                failures.append(repr(exc))
                return
            if not set(range(200)) <= set(ids.tolist()):
                failures.append(f"{len(ids)} hits, some of the first 200 chunks missing")
                return
            searches[0] += 1

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    readers = [threading.Thread(target=read) for _ in range(3)]
    try:
        for reader in readers:
            reader.start()
        for i in range(1000, 1400):
            index.add(i, ["stały", "nowy", f"n{i}"] if i % 2 else ["nowy", f"n{i}"])
            if i % 3 == 0:
                index.remove([i - 1])
    finally:
        stop.set()
        for reader in readers:
            reader.join()
        sys.setswitchinterval(old_interval)
    assert not failures, failures[:3]
    assert searches[0] > 0
