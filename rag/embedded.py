"""The embedded store: one folder per collection under the index dir (the default)."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

from rag.catalog import Catalog
from rag.collection import CATALOG, MANIFEST, Collection, Manifest, list_collections
from rag.errors import CollectionNotFound
from rag.files import file_lock
from rag.settings import COLLECTION_NAME, check_collection_name

log = logging.getLogger(__name__)
# A deleted collection's folder is renamed to this prefix first (one atomic step, under its
# write lock) and removed after; such names are never valid collection names, so never listed.
GRAVE_PREFIX = ".deleted-"


class EmbeddedBackend:
    """Collections as folders (SQLite catalogue + FAISS and BM25 files) under ``index_dir``."""

    def __init__(
        self,
        index_dir: Path,
        *,
        lock_timeout: float = 60.0,
        ann_threshold: int = 200_000,
        ann_nprobe: int | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.lock_timeout = lock_timeout
        self.ann_threshold = ann_threshold
        self.ann_nprobe = ann_nprobe

    def open(self, name: str, expected: Manifest | None, *, create: bool) -> Collection:
        return Collection.open(
            self.index_dir,
            name,
            expected,
            create=create,
            lock_timeout=self.lock_timeout,
            ann_threshold=self.ann_threshold,
            ann_nprobe=self.ann_nprobe,
        )

    def names(self) -> list[str]:
        # Not the folder of a deletion under way (or cut short by a crash): it still holds a
        # manifest until it is removed, but it is no collection any more.
        return [name for name in list_collections(self.index_dir) if COLLECTION_NAME.fullmatch(name)]

    def delete(self, name: str, *, only_if_empty: bool = False) -> bool:
        """Taken under the collection's write lock, so no writer in any process is half-way
        through it. Searches already running on it finish on the open files (renamed away)."""
        check_collection_name(name)
        folder = self.index_dir / name
        if not (folder / MANIFEST).is_file():
            raise CollectionNotFound(name, self.index_dir)
        with file_lock(folder, self.lock_timeout, name):
            if not (folder / MANIFEST).is_file():  # another process deleted it while we waited
                raise CollectionNotFound(name, self.index_dir)
            if only_if_empty and _has_documents(folder):
                return False
            grave = self.index_dir / f"{GRAVE_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
            os.replace(folder, grave)
        shutil.rmtree(grave, ignore_errors=True)
        return True

    def sweep(self) -> None:
        if self.index_dir.is_dir():
            for folder in self.index_dir.glob(f"{GRAVE_PREFIX}*"):
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        pass


def _has_documents(folder: Path) -> bool:
    # A catalogue of its own: opening the Collection here could wait on the lock we hold.
    catalog = Catalog(folder / CATALOG)
    try:
        return bool(catalog.list_documents())
    finally:
        catalog.close()
