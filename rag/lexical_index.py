"""In-memory BM25 over analysed terms: postings as sparse matrices, scored with numpy.

SQLite keeps each chunk's terms durably (table ``chunk_terms``); this index is derived
from it like the FAISS file is from the vectors: saved atomically, caught up from the
catalogue when it lags. A term's postings are one column of a CSC matrix (documents x
terms), so a query reads only the columns of its terms.

Readers never change anything: the index is an immutable :class:`_State` behind one
attribute. A writer builds the next state aside (the new chunks become a small segment,
small segments are merged as they grow) and publishes it with one assignment, so a search
sees a write entirely or not at all and never waits for one.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import sparse

from rag.lexical_file import Segment, read_segment, write_segment

log = logging.getLogger(__name__)

# Chosen on the first half of PoQuAD dev's paragraphs (bench/bm25_baseline.py: lexical R@1
# 0.653 at 1.2/0.75 -> 0.662), checked on the other half (0.669 -> 0.675) and on
# tests/data/eval (lexical R@5 0.833 -> 0.905): chunks are short, a repeat says little.
K1 = 0.9
B = 0.5
HEADING = "h:"  # heading terms share the vocabulary under a prefix
MAX_SEGMENTS = 8
MERGE_FACTOR = 4  # a segment is merged into the one before it until that one is 4x larger
FILE = "lexical.npz"

Row = tuple[int, Sequence[str], Sequence[str]]  # chunk id, terms, heading terms


_EMPTY_TF = np.zeros(0, np.float32)
_NO_IDS = np.zeros(0, np.int64)


@dataclass(frozen=True, slots=True)
class _State:
    """One published version of the index; nothing in it is changed after publication."""

    segments: tuple[Segment, ...]
    deleted: np.ndarray  # sorted ids still in a segment but removed
    df: np.ndarray  # per term id below ``len(df)``: rows holding it (deleted rows included)
    live: int
    total_length: float  # of live rows

    @property
    def width(self) -> int:
        return len(self.df)


_EMPTY_STATE = _State((), _NO_IDS, np.zeros(0, np.int64), 0, 0.0)


class LexicalIndex:
    """BM25 (k1=0.9, b=0.5) over chunk terms, with a separately weighted heading field.

    Searches may run in any number of threads at once; writes (``add``, ``update``,
    ``remove``, ``save``) are serialised by the index itself and never block a search.
    """

    def __init__(self) -> None:
        # Append-only; a state ignores term ids at or past its own width (added after it).
        self.vocabulary: dict[str, int] = {}
        self._state = _EMPTY_STATE
        self._write = threading.Lock()

    def __len__(self) -> int:
        return self._state.live

    def chunk_ids(self) -> np.ndarray:
        return _live_ids(self._state)

    # -- writing -------------------------------------------------------------------

    def add(self, chunk_id: int, terms: Sequence[str], heading_terms: Sequence[str] = ()) -> None:
        self.update(added=[(chunk_id, terms, heading_terms)])

    def remove(self, chunk_ids: Iterable[int]) -> None:
        self.update(removed=chunk_ids)

    def update(self, *, removed: Iterable[int] = (), added: Iterable[Row] = ()) -> None:
        """Remove ``removed`` and add ``added`` as one change: a search sees both or neither."""
        with self._write:
            state = _without(self._state, np.fromiter(removed, np.int64))
            state = self._with(state, added)
            if len(state.deleted) > 0.2 * max(state.live, 1):
                state = _merge_all(state, len(self.vocabulary))
            self._state = state

    def _with(self, state: _State, rows: Iterable[Row]) -> _State:
        vocabulary = self.vocabulary
        ids, lengths, columns, counts = [], [], [], []
        for chunk_id, terms, heading_terms in rows:
            counted = Counter(vocabulary.setdefault(term, len(vocabulary)) for term in terms)
            counted.update(vocabulary.setdefault(HEADING + term, len(vocabulary)) for term in heading_terms)
            ids.append(chunk_id)
            lengths.append(len(terms))
            columns.append(np.fromiter(counted.keys(), np.int32, len(counted)))
            counts.append(np.fromiter(counted.values(), np.float32, len(counted)))
        width = len(vocabulary)
        if not ids:
            return state
        rows_of = np.repeat(np.arange(len(ids), dtype=np.int32), [len(c) for c in columns])
        postings = sparse.csc_matrix(
            (np.concatenate(counts), (rows_of, np.concatenate(columns))), shape=(len(ids), width)
        )
        segment = Segment(np.asarray(ids, np.int64), np.asarray(lengths, np.float32), postings)
        if len(state.deleted) and np.isin(segment.chunk_ids, state.deleted).any():
            # An id removed and added again (its terms replaced in one update, or catch-up
            # re-adding rows another process re-analysed) would stay hidden by ``deleted``, and
            # the next merge would drop both copies: purge the removed rows first.
            state = _merge_all(state, state.width)
        df = np.zeros(width, np.int64)
        df[: state.width] = state.df
        df += np.diff(postings.indptr)
        segments = _merge_tail([*state.segments, segment], width)
        return _State(
            tuple(segments),
            state.deleted,
            df,
            state.live + len(ids),
            state.total_length + float(segment.lengths.sum()),
        )

    # -- reading -------------------------------------------------------------------

    def search(
        self,
        terms: Sequence[str | tuple[str, ...]],
        k: int,
        *,
        heading_weight: float = 2.0,
        headings_only: bool = False,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids and BM25 scores of the ``k`` best chunks for ``terms``, best first.

        A tuple in ``terms`` is one query word's alternatives (its lemmas): a chunk scores the
        best of them, not their sum, so a form with two readings in both query and chunk counts
        once (PoQuAD lexical R@1 on the tune half 0.631 -> 0.662, bench/bm25_baseline.py).
        """
        state = self._state  # one read: the whole search uses this version
        nothing = np.zeros(0, np.int64), np.zeros(0, np.float32)
        if not terms or not state.segments or k < 1:
            return nothing
        # (weight, term ids scored by their best, whether the field is the heading)
        words: list[tuple[float, list[int], bool]] = []
        for word in dict.fromkeys((term,) if isinstance(term, str) else tuple(term) for term in terms):
            if not headings_only and (tids := self._term_ids(word, "", state.width)):
                words.append((1.0, tids, False))
            if heading_weight and (tids := self._term_ids(word, HEADING, state.width)):
                words.append((heading_weight, tids, True))
        if not words:
            return nothing
        # Chunks whose text gave no terms may still match by heading: 0/0 made every score NaN.
        average = state.total_length / max(state.live, 1) or 1.0
        ambiguous = any(len(tids) > 1 for _, tids, _ in words)
        found_ids, found_scores = [], []
        for segment in state.segments:
            norm = K1 * (1 - B + B * segment.lengths / average)
            # Asked for a unit by its heading ("art. 30"), every chunk under it matches alike;
            # normalised by the chunk's length, a short page footnote under Art. 30 outranked the
            # article's opening. Unnormalised, they tie, and the first chunk of the unit leads.
            heading_norm = np.full_like(norm, K1) if headings_only else norm
            scores = np.zeros(len(segment.chunk_ids), np.float32)
            scratch = np.zeros_like(scores) if ambiguous else scores
            for weight, tids, heading in words:
                _add_best(scores, scratch, state, segment, tids, heading_norm if heading else norm, weight)
            hit = np.flatnonzero(scores)
            if allowed is not None:
                hit = hit[np.isin(segment.chunk_ids[hit], allowed)]
            if len(state.deleted):
                hit = hit[~np.isin(segment.chunk_ids[hit], state.deleted)]
            if len(hit) > k:  # the k best and every chunk tied with the k-th: ids break ties below
                kth = np.partition(scores[hit], len(hit) - k)[len(hit) - k]
                hit = hit[scores[hit] >= kth]
            found_ids.append(segment.chunk_ids[hit])
            found_scores.append(scores[hit])
        ids, scores = np.concatenate(found_ids), np.concatenate(found_scores)
        order = np.lexsort((ids, -scores))[:k]
        return ids[order], scores[order]

    def _term_ids(self, word: tuple[str, ...], prefix: str, width: int) -> list[int]:
        found = (self.vocabulary.get(prefix + term) for term in word)
        return [tid for tid in found if tid is not None and tid < width]

    # -- persistence ---------------------------------------------------------------

    def save(self, folder: Path, generation: int, *, tag: str = "") -> None:
        """Write one merged segment durably and atomically (npz + vocabulary), marked with the
        catalogue ``generation`` and ``tag`` (what made the terms); searches go on meanwhile."""
        with self._write:
            state = _merge_all(self._state, len(self.vocabulary))
            self._state = state  # the same chunks in one segment: searches get faster
            segment = state.segments[0]
            vocabulary = list(itertools.islice(self.vocabulary, state.width))
        write_segment(folder / FILE, segment, vocabulary, generation=generation, tag=tag)

    @classmethod
    def load(cls, folder: Path, *, tag: str = "") -> tuple[LexicalIndex, int | None]:
        """The saved index and its generation; an empty index and None when there is none
        or it cannot be trusted: unreadable, inconsistent, of a later version or with terms
        made otherwise than ``tag`` says (then one warning: the caller rebuilds it)."""
        index = cls()
        path = folder / FILE
        if not path.exists():
            return index, None
        try:
            vocabulary, segment, generation = read_segment(path, tag)
        # A derived file may be damaged in any way (zipfile, numpy, json and scipy each raise
        # their own errors); whatever it is, the catalogue rebuilds it.
        except Exception as exc:  # noqa: BLE001
            log.warning("BM25 file %s unreadable (%s); it will be rebuilt from the catalogue", path, exc)
            return index, None
        index.vocabulary = {term: i for i, term in enumerate(vocabulary)}
        live = len(segment.chunk_ids)
        df = np.diff(segment.postings.indptr).astype(np.int64)
        index._state = _State((segment,), _NO_IDS, df, live, float(segment.lengths.sum()))
        return index, generation


def _live_ids(state: _State) -> np.ndarray:
    parts = [segment.chunk_ids for segment in state.segments]
    ids = np.concatenate(parts) if parts else _NO_IDS
    return ids[~np.isin(ids, state.deleted)] if len(state.deleted) else ids


def _without(state: _State, chunk_ids: np.ndarray) -> _State:
    """``state`` with ``chunk_ids`` marked deleted (ids it does not hold are ignored)."""
    if not len(chunk_ids):
        return state
    gone = np.setdiff1d(chunk_ids, state.deleted)
    removed_length = 0.0
    found = []
    for segment in state.segments:
        mask = np.isin(segment.chunk_ids, gone)
        if mask.any():
            found.append(segment.chunk_ids[mask])
            removed_length += float(segment.lengths[mask].sum())
    if not found:
        return state
    newly = np.concatenate(found)
    return replace(
        state,
        deleted=np.union1d(state.deleted, newly),
        live=state.live - len(newly),
        total_length=state.total_length - removed_length,
    )


def _merge_tail(segments: list[Segment], width: int) -> list[Segment]:
    """Merge the newest segments while one is not much smaller than the one before it, so a
    collection of n chunks has O(log n) segments and each chunk is copied O(log n) times."""
    while len(segments) > 1 and (
        len(segments) > MAX_SEGMENTS
        or len(segments[-2].chunk_ids) < MERGE_FACTOR * len(segments[-1].chunk_ids)
    ):
        segments[-2:] = [_concat(segments[-2:], width)]
    return segments


def _add_best(
    scores: np.ndarray,
    scratch: np.ndarray,
    state: _State,
    segment: Segment,
    tids: list[int],
    norm: np.ndarray,
    weight: float,
) -> None:
    """Add ``weight`` times each row's best BM25 term score among ``tids`` to ``scores``.

    ``scratch`` is all zeros, as long as ``scores``, and is left so. Two passes over the
    postings instead of sorting them: 2.4x faster for 200k-row postings at 1M chunks.
    """
    parts = []
    for tid in tids:
        rows, tf = segment.column(tid)
        if len(rows):
            # df counts rows removed but not yet merged away, so N must count them too: with
            # live rows alone a term in nearly every row got a negative idf, and a chunk holding
            # it ranked below one holding only the query's other words.
            df, rows_held = state.df[tid], state.live + len(state.deleted)
            idf = np.log1p((rows_held - df + 0.5) / (df + 0.5))
            parts.append((rows, idf * tf * (K1 + 1) / (tf + norm[rows])))
    if len(parts) == 1:
        rows, values = parts[0]
        scores[rows] += weight * values
        return
    for rows, values in parts:
        scratch[rows] = np.maximum(scratch[rows], values)
    for rows, _ in parts:  # a row in several parts is added once: its scratch is zeroed
        scores[rows] += weight * scratch[rows]
        scratch[rows] = 0


def _merge_all(state: _State, width: int) -> _State:
    """One segment without the deleted rows; document frequencies counted afresh."""
    if len(state.segments) == 1 and not len(state.deleted) and state.segments[0].postings.shape[1] == width:
        return state
    segments = [
        Segment(s.chunk_ids[keep], s.lengths[keep], s.postings[keep])
        for s in state.segments
        for keep in [~np.isin(s.chunk_ids, state.deleted)]
    ]
    merged = _concat(segments, width)
    df = np.diff(merged.postings.indptr).astype(np.int64)
    return _State((merged,), _NO_IDS, df, len(merged.chunk_ids), float(merged.lengths.sum()))


def _concat(segments: Sequence[Segment], width: int) -> Segment:
    """The rows of ``segments`` one after another, as one segment ``width`` terms wide.

    Done in numpy rather than with ``sparse.vstack``, whose fixed cost dominated adding a
    document: each column's entries are the segments' entries in order, row numbers
    shifted; a stable sort by column over the segments' (already sorted) runs places them."""
    rows = 0
    row_parts, column_parts, data_parts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [_EMPTY_TF]
    for segment in segments:
        postings = segment.postings
        counts = np.diff(postings.indptr)
        column_parts.append(np.repeat(np.arange(len(counts), dtype=np.int64), counts))
        row_parts.append(postings.indices.astype(np.int64) + rows)
        data_parts.append(postings.data)
        rows += postings.shape[0]
    columns = np.concatenate(column_parts)
    order = np.argsort(columns, kind="stable")
    indptr = np.zeros(width + 1, np.int64)
    np.cumsum(np.bincount(columns, minlength=width), out=indptr[1:])
    postings = sparse.csc_matrix(
        (np.concatenate(data_parts)[order], np.concatenate(row_parts)[order], indptr), shape=(rows, width)
    )
    return Segment(
        np.concatenate([_NO_IDS, *(s.chunk_ids for s in segments)]),
        np.concatenate([np.zeros(0, np.float32), *(s.lengths for s in segments)]),
        postings,
    )
