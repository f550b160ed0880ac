"""The collection's readers-writer lock: searches together, writes alone, writers not starved."""

from __future__ import annotations

import threading
import time

from rag.rwlock import ReadWriteLock


def test_readers_share_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    inside = threading.Barrier(3, timeout=5)
    order: list[str] = []

    def reader() -> None:
        with lock.read():
            inside.wait()  # all three readers hold the lock at once, or this times out
            time.sleep(0.05)
            order.append("read")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    inside.wait()

    def writer() -> None:
        with lock.write():
            order.append("write")

    writing = threading.Thread(target=writer)
    writing.start()
    for thread in [*readers, writing]:
        thread.join(timeout=5)
    assert order == ["read", "read", "write"]


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
