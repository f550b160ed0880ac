"""The original files of a collection's documents, content-addressed by sha256.

A document's page images are drawn from its original bytes, so the original is written durably
*before* the catalogue commit that references it, and removed only after the commit that drops the
last document using it. A crash between the two leaves at worst an orphan file (never a document
without its original); :meth:`OriginalStore.remove_orphans`, run under the collection's write lock,
clears those. The interface is deliberately narrow (put / get / delete by sha256) so that a
database store can keep the same bytes in a table.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from contextlib import suppress
from pathlib import Path

from rag.errors import BadDocumentError
from rag.files import fsync_dir

ORIGINALS = "originals"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class OriginalStore:
    """Original files under ``folder/originals/<sha256>``; safe across threads and processes
    (a file appears whole, by rename, or not at all)."""

    def __init__(self, collection_folder: Path) -> None:
        self.folder = collection_folder / ORIGINALS

    def path(self, sha256: str) -> Path:
        if not SHA256.match(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.folder / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, sha256: str, source: Path) -> None:
        """Copy ``source`` in durably, checking its bytes still hash to ``sha256`` (the file
        may have changed since it was parsed: its pages would not match what is stored)."""
        target = self.path(sha256)
        if target.is_file():
            return
        self.folder.mkdir(exist_ok=True)
        tmp = self.folder / f".{sha256}.{os.getpid()}.{threading.get_ident()}.tmp"
        digest = hashlib.sha256()
        try:
            with open(source, "rb") as src, open(tmp, "wb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise BadDocumentError("the file changed while it was being ingested; ingest it again")
            os.replace(tmp, target)
        finally:
            with suppress(OSError):
                tmp.unlink()
        fsync_dir(self.folder)

    def get(self, sha256: str) -> bytes | None:
        """The original's bytes, or None when it is not kept (a collection made before originals)."""
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> None:
        with suppress(FileNotFoundError):
            self.path(sha256).unlink()

    def stored(self) -> set[str]:
        """The sha256 of every original kept."""
        if not self.folder.is_dir():
            return set()
        return {entry.name for entry in self.folder.iterdir() if SHA256.match(entry.name)}

    def remove_orphans(self, referenced: set[str]) -> int:
        """Delete originals no document references and temporaries of killed writers.

        Only for the holder of the collection's write lock (no put is then in flight)."""
        removed = 0
        for sha256 in self.stored() - referenced:
            self.delete(sha256)
            removed += 1
        if self.folder.is_dir():
            for stale in self.folder.glob(".*.tmp"):
                with suppress(OSError):
                    stale.unlink()
        return removed

    def size_bytes(self) -> int:
        return sum(self.path(sha).stat().st_size for sha in self.stored())
