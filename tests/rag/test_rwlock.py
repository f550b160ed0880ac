"""The collection's readers-writer lock: searches together, writes alone, writers not starved."""

from __future__ import annotations

import threading
import time

from rag.rwlock import ReadWriteLock


def test_readers_share_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    all_inside = threading.Event()
    # The three readers meet inside the lock: all of them hold it at once, or this times out.
    inside = threading.Barrier(3, action=all_inside.set, timeout=5)
    release = threading.Event()
    order: list[str] = []

    def reader() -> None:
        with lock.read():
            inside.wait()
            release.wait(timeout=5)
            order.append("read")

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    assert all_inside.wait(timeout=5)

    def writer() -> None:
        with lock.write():
            order.append("write")

    writing = threading.Thread(target=writer)
    writing.start()
    writing.join(timeout=0.2)
    assert writing.is_alive() and order == []  # the writer waits while the readers hold the lock
    release.set()
    for thread in [*readers, writing]:
        thread.join(timeout=5)
    assert order == ["read", "read", "read", "write"]


def test_writer_reenters_and_reads_its_own_state() -> None:
    lock = ReadWriteLock()
    with lock.write(), lock.write(), lock.read():
        pass
    with lock.read():  # released completely
        pass


def test_waiting_writer_goes_before_new_readers() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    first_in = threading.Event()

    def long_reader() -> None:
        with lock.read():
            first_in.set()
            time.sleep(0.2)

    def writer() -> None:
        with lock.write():
            order.append("write")

    def late_reader() -> None:
        with lock.read():
            order.append("late read")

    holder = threading.Thread(target=long_reader)
    holder.start()
    first_in.wait(5)
    writing = threading.Thread(target=writer)
    writing.start()
    time.sleep(0.05)  # the writer is waiting now
    late = threading.Thread(target=late_reader)
    late.start()
    for thread in (holder, writing, late):
        thread.join(timeout=5)
    assert order == ["write", "late read"]
