"""The BM25 index's file: one segment of postings with its vocabulary, in an npz archive.

Written durably and atomically; read back only after checking that every array agrees
with the others (a damaged file must fail here, not as a wrong score or an IndexError in
a search later).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from rag.files import replacing

FILE_VERSION = 1

_EMPTY_ROWS = np.zeros(0, np.int32)
_EMPTY_TF = np.zeros(0, np.float32)


@dataclass(frozen=True, slots=True)
class Segment:
    """Rows (chunks) x vocabulary term frequencies, with each row's chunk id and length."""

    chunk_ids: np.ndarray  # int64, one per row
    lengths: np.ndarray  # float32 document lengths in terms
    postings: sparse.csc_matrix  # rows x vocabulary, term frequencies

    def column(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        if term >= self.postings.shape[1]:
            return _EMPTY_ROWS, _EMPTY_TF
        start, end = self.postings.indptr[term], self.postings.indptr[term + 1]
        return self.postings.indices[start:end], self.postings.data[start:end]


def write_segment(path: Path, segment: Segment, vocabulary: list[str], *, generation: int, tag: str) -> None:
    """Write ``segment`` and the terms of its columns; fsynced, then renamed into place."""
    with replacing(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            version=np.array(FILE_VERSION),
            chunk_ids=segment.chunk_ids,
            lengths=segment.lengths,
            indptr=segment.postings.indptr,
            indices=segment.postings.indices,
            data=segment.postings.data,
            shape=np.array(segment.postings.shape),
            generation=np.array(generation),
            tag=np.array(tag),
            vocabulary=np.array(json.dumps(vocabulary, ensure_ascii=False)),
        )


def read_segment(path: Path, tag: str) -> tuple[list[str], Segment, int]:
    """Vocabulary, segment and generation of a saved index, checked; ValueError (or what
    numpy and zipfile raise on a damaged archive) says what is wrong with it."""
    with np.load(path, allow_pickle=False) as data:
        version = int(data["version"]) if "version" in data.files else 0
        if version > FILE_VERSION:
            raise ValueError(f"file version {version}, this polrag reads up to {FILE_VERSION}")
        vocabulary = json.loads(str(data["vocabulary"]))
        shape = tuple(int(n) for n in data["shape"])
        chunk_ids = data["chunk_ids"].astype(np.int64)
        lengths = data["lengths"].astype(np.float32)
        indptr, indices, values = data["indptr"], data["indices"], data["data"]
        generation = int(data["generation"])
        saved_tag = str(data["tag"]) if "tag" in data.files else ""
    if saved_tag != tag:
        raise ValueError(f"terms made by analysis {saved_tag or 'unknown'!r}, expected {tag!r}")
    if not isinstance(vocabulary, list) or not all(isinstance(term, str) for term in vocabulary):
        raise ValueError("vocabulary is not a list of terms")
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError("vocabulary repeats a term")
    rows, width = shape if len(shape) == 2 else (-1, -1)
    if (rows, width) != (len(chunk_ids), len(vocabulary)) or len(lengths) != rows:
        raise ValueError(f"shape {shape} does not match {len(chunk_ids)} chunks, {len(vocabulary)} terms")
    if len(np.unique(chunk_ids)) != rows:
        raise ValueError("a chunk id appears twice")
    # csc_matrix accepts these without a full check; a bad offset would read out of bounds.
    postings = sparse.csc_matrix((values, indices, indptr), shape=(rows, width))
    postings.check_format(full_check=True)
    return vocabulary, Segment(chunk_ids, lengths, postings), generation
