"""kill -9 in the middle of an ingest leaves a consistent, searchable collection."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.collection import CATALOG

WORDS = "las rzeka góra miasto szkoła urząd sąd podatek ustawa drzewo żółw łąka".split()


def make_corpus(folder: Path, count: int) -> None:
    folder.mkdir()
    for i in range(count):
        sentences = [
            f"Dokument {i} opisuje temat {WORDS[(i + j) % len(WORDS)]} w punkcie {j}. "
            f"Zdanie {j} dokumentu {i} zawiera słowo {WORDS[(i * j) % len(WORDS)]}."
            for j in range(40)
        ]
        (folder / f"dok_{i:03d}.txt").write_text(" ".join(sentences), encoding="utf-8")


def committed_documents(catalog: Path) -> int:
    if not catalog.exists():
        return 0
    try:
        with sqlite3.connect(catalog, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def start_ingest(corpus: Path, env: dict[str, str], workers: int = 0) -> subprocess.Popen[bytes]:
    # As from a terminal: Ctrl-C at its default, unblocked. A test process may pass SIGINT on
    # ignored or blocked (both survive exec), and the ingest would then never see the Ctrl-C.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); from api.cli import main; main()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, "ingest", str(corpus), "--workers", str(workers), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
    )


def wait_for_documents(process: subprocess.Popen[bytes], catalog: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while committed_documents(catalog) < count and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        time.sleep(0.02)


def test_kill_9_mid_ingest_keeps_committed_documents(settings, library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 60)
    env = {**os.environ, "POLRAG_EMBEDDING_DTYPE": "float32"}  # slower: a wider window to kill in
    catalog = settings.index_dir / "default" / CATALOG
    process = start_ingest(corpus, env)
    wait_for_documents(process, catalog, 5)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    survivors = committed_documents(catalog)
    assert 5 <= survivors < 60, "the kill must land mid-ingest"

    collection = library.collection()
    assert np.array_equal(np.sort(collection._index.ids()), np.sort(collection.catalog.chunk_ids()))
    assert collection.catalog.lexical_count() == collection.catalog.chunk_count()
    docs = collection.documents()
    assert len(docs) == survivors
    for doc in docs:  # every committed document is searchable, chunk by chunk
        chunks = collection.catalog.chunks_of(doc.id)
        assert chunks and len(chunks) == doc.chunks
        dense = library.search(chunks[0].text, k=1, mode="dense", document_ids=[doc.id])
        assert dense and dense[0].chunk_id == chunks[0].chunk_id
        assert library.search(
            f"Dokument {doc.file_name[4:7].lstrip('0') or '0'}", k=1, mode="lexical", document_ids=[doc.id]
        )
    library.close()

    # Running the batch again finishes the job: old documents unchanged, the rest added.
    resumed = start_ingest(corpus, env)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    assert b'"unchanged": %d' % survivors in out
    collection = library.collection()
    assert len(collection.documents()) == 60
    assert np.array_equal(np.sort(collection._index.ids()), np.sort(collection.catalog.chunk_ids()))


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_parser_processes_leave_when_the_ingest_is_killed(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 60)
    catalog = settings.index_dir / "default" / CATALOG
    process = start_ingest(corpus, {**os.environ, "POLRAG_EMBEDDING_DTYPE": "float32"}, workers=2)
    wait_for_documents(process, catalog, 2)
    workers = children_of(process.pid)
    assert workers, "the parsers run as processes of their own"
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)], "orphaned parser processes"


def test_ctrl_c_stops_the_ingest_with_one_line_and_keeps_what_was_stored(settings, library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 60)
    catalog = settings.index_dir / "default" / CATALOG
    process = start_ingest(corpus, {**os.environ, "POLRAG_EMBEDDING_DTYPE": "float32"}, workers=2)
    wait_for_documents(process, catalog, 2)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()[-3000:]
    assert err.decode().strip().startswith("interrupted") and "Traceback" not in err.decode()
    collection = library.collection()
    assert 2 <= len(collection.documents()) < 60
    assert np.array_equal(np.sort(collection._index.ids()), np.sort(collection.catalog.chunk_ids()))
