"""In-memory BM25 over analysed terms: postings as sparse matrices, scored with numpy.

SQLite keeps each chunk's terms durably (table ``chunk_terms``); this index is derived
from it like the FAISS file is from the vectors: saved atomically, caught up from the
catalogue when it lags. New chunks land in small segments that are merged as they grow,
so adding a document never rebuilds the whole index. A term's postings are one column
of a CSC matrix (documents x terms), so a query reads only the columns of its terms.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

K1 = 1.2
B = 0.75
HEADING = "h:"  # heading terms share the vocabulary under a prefix
MAX_SEGMENTS = 6
SEAL_EVERY = 20_000  # pending chunks become a segment at this count, or at the next search


@dataclass
class _Segment:
    chunk_ids: np.ndarray  # int64, one per row
    lengths: np.ndarray  # float32 document lengths in terms
    postings: sparse.csc_matrix  # rows x vocabulary, term frequencies

    def column(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        if term >= self.postings.shape[1]:
            return _EMPTY_ROWS, _EMPTY_TF
        start, end = self.postings.indptr[term], self.postings.indptr[term + 1]
        return self.postings.indices[start:end], self.postings.data[start:end]


_EMPTY_ROWS = np.zeros(0, np.int32)
_EMPTY_TF = np.zeros(0, np.float32)


class LexicalIndex:
    """BM25 (k1=1.2, b=0.75) over chunk terms, with a separately weighted heading field."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self._segments: list[_Segment] = []
        # (chunk id, term ids, counts, length): ids at once, so pending chunks stay small.
        self._pending: list[tuple[int, np.ndarray, np.ndarray, int]] = []
        self._deleted: set[int] = set()
        self._live = 0
        self._total_length = 0.0
        self._df = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return self._live + len(self._pending)

    def chunk_ids(self) -> np.ndarray:
        self._seal()
        parts = [s.chunk_ids for s in self._segments]
        ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return ids[~np.isin(ids, np.fromiter(self._deleted, np.int64))] if self._deleted else ids

    def add(self, chunk_id: int, terms: Sequence[str], heading_terms: Sequence[str] = ()) -> None:
        vocabulary = self.vocabulary
        counted = Counter(vocabulary.setdefault(term, len(vocabulary)) for term in terms)
        counted.update(vocabulary.setdefault(HEADING + term, len(vocabulary)) for term in heading_terms)
        self._pending.append(
            (
                chunk_id,
                np.fromiter(counted.keys(), np.int32, len(counted)),
                np.fromiter(counted.values(), np.float32, len(counted)),
                len(terms),
            )
        )
        if len(self._pending) >= SEAL_EVERY:
            self._seal()

    def add_many(self, rows: Iterable[tuple[int, str, str]]) -> None:
        """Rows of (chunk id, terms, heading terms) as stored in the catalogue."""
        for chunk_id, terms, heading in rows:
            self.add(chunk_id, terms.split(), heading.split())

    def remove(self, chunk_ids: Iterable[int]) -> None:
        self._seal()
        present = set(self.chunk_ids().tolist())
        for chunk_id in chunk_ids:
            if chunk_id in present and chunk_id not in self._deleted:
                self._deleted.add(int(chunk_id))
                self._live -= 1
        if self._deleted and len(self._deleted) > 0.2 * max(self._live, 1):
            self._merge(force=True)

    def search(
        self,
        terms: Sequence[str],
        k: int,
        *,
        heading_weight: float = 2.0,
        headings_only: bool = False,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids and BM25 scores of the ``k`` best chunks for ``terms``, best first."""
        self._seal()
        if not terms or not self._segments or k < 1:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        weighted: list[tuple[int, float]] = []
        for term in dict.fromkeys(terms):
            if not headings_only and (tid := self.vocabulary.get(term)) is not None:
                weighted.append((tid, 1.0))
            if heading_weight and (tid := self.vocabulary.get(HEADING + term)) is not None:
                weighted.append((tid, heading_weight))
        if not weighted:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        average = self._total_length / max(self._live, 1)
        found_ids, found_scores = [], []
        for segment in self._segments:
            norm = K1 * (1 - B + B * segment.lengths / average)
            scores = np.zeros(len(segment.chunk_ids), np.float32)
            for tid, weight in weighted:
                rows, tf = segment.column(tid)
                if len(rows):
                    idf = np.log1p((self._live - self._df[tid] + 0.5) / (self._df[tid] + 0.5))
                    scores[rows] += weight * idf * tf * (K1 + 1) / (tf + norm[rows])
            hit = np.flatnonzero(scores)
            if allowed is not None:
                hit = hit[np.isin(segment.chunk_ids[hit], allowed)]
            if self._deleted:
                hit = hit[~np.isin(segment.chunk_ids[hit], np.fromiter(self._deleted, np.int64))]
            if len(hit) > k:
                hit = hit[np.argpartition(-scores[hit], k - 1)[:k]]
            found_ids.append(segment.chunk_ids[hit])
            found_scores.append(scores[hit])
        ids, scores = np.concatenate(found_ids), np.concatenate(found_scores)
        order = np.lexsort((ids, -scores))[:k]
        return ids[order], scores[order]

    # -- persistence ---------------------------------------------------------------

    def save(self, folder: Path, generation: int) -> None:
        """Write one merged segment atomically (npz + vocabulary), tagged with ``generation``."""
        self._merge(force=True)
        segment = self._segments[0] if self._segments else _empty_segment(len(self.vocabulary))
        tmp = folder / f".lexical.{os.getpid()}.tmp.npz"
        np.savez(
            tmp,
            chunk_ids=segment.chunk_ids,
            lengths=segment.lengths,
            indptr=segment.postings.indptr,
            indices=segment.postings.indices,
            data=segment.postings.data,
            shape=np.array(segment.postings.shape),
            generation=np.array(generation),
            vocabulary=np.array(json.dumps(list(self.vocabulary), ensure_ascii=False)),
        )
        os.replace(tmp, folder / "lexical.npz")

    @classmethod
    def load(cls, folder: Path) -> tuple[LexicalIndex, int | None]:
        """The saved index and its generation; an empty index and None when there is none."""
        index = cls()
        try:
            with np.load(folder / "lexical.npz") as data:
                vocabulary = json.loads(str(data["vocabulary"]))
                postings = sparse.csc_matrix(
                    (data["data"], data["indices"], data["indptr"]), shape=tuple(data["shape"])
                )
                segment = _Segment(data["chunk_ids"], data["lengths"], postings)
                generation = int(data["generation"])
        except (OSError, ValueError, KeyError):
            return index, None
        index.vocabulary = {term: i for i, term in enumerate(vocabulary)}
        index._install([segment])
        return index, generation

    # -- internals -----------------------------------------------------------------

    def _seal(self) -> None:
        """Turn pending additions into a segment; merge when segments pile up."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        sizes = np.fromiter((len(cols) for _, cols, _, _ in pending), np.int64, len(pending))
        rows = np.repeat(np.arange(len(pending), dtype=np.int32), sizes)
        cols = np.concatenate([cols for _, cols, _, _ in pending])
        counts = np.concatenate([counts for _, _, counts, _ in pending])
        postings = sparse.csc_matrix((counts, (rows, cols)), shape=(len(pending), len(self.vocabulary)))
        ids = np.fromiter((chunk_id for chunk_id, _, _, _ in pending), np.int64, len(pending))
        lengths = np.fromiter((length for _, _, _, length in pending), np.float32, len(pending))
        self._install([*self._segments, _Segment(ids, lengths, postings)])
        self._merge(force=False)

    def _merge(self, *, force: bool) -> None:
        self._seal()
        if len(self._segments) <= (1 if force else MAX_SEGMENTS) and not (force and self._deleted):
            return
        width = len(self.vocabulary)
        blocks, ids, lengths = [], [], []
        for segment in self._segments:
            keep = ~np.isin(segment.chunk_ids, np.fromiter(self._deleted, np.int64))
            matrix = segment.postings.tocsr()
            matrix.resize(matrix.shape[0], width)
            blocks.append(matrix[keep])
            ids.append(segment.chunk_ids[keep])
            lengths.append(segment.lengths[keep])
        self._deleted.clear()
        merged = (
            _Segment(np.concatenate(ids), np.concatenate(lengths), sparse.vstack(blocks, format="csc"))
            if blocks
            else _empty_segment(width)
        )
        self._install([merged])

    def _install(self, segments: list[_Segment]) -> None:
        self._segments = segments
        width = len(self.vocabulary)
        df = np.zeros(width, np.int64)
        live = 0
        total = 0.0
        for segment in segments:
            counts = np.diff(segment.postings.indptr)
            df[: len(counts)] += counts
            live += len(segment.chunk_ids)
            total += float(segment.lengths.sum())
        self._df, self._live, self._total_length = df, live - len(self._deleted), total


def _empty_segment(width: int) -> _Segment:
    return _Segment(
        np.zeros(0, np.int64), np.zeros(0, np.float32), sparse.csc_matrix((0, width), dtype=np.float32)
    )
