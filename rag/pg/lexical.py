"""BM25 in SQL over the postings table, scoring as :class:`rag.lexical_index.LexicalIndex` does.

Same analysed terms, same k1 and b, same idf (``ln(1 + (N - df + 0.5) / (df + 0.5))``), a
query word's alternatives scored by the best of them, headings weighed twice (and not normalised
by the chunk's length in a headings-only search), ties broken by chunk id; tests/store compares
the two stores' rankings on real Polish acts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from psycopg import sql

from rag.lexical_index import HEADING, K1, B

HEADING_WEIGHT = 2.0

# LATERAL lookups, so each query term reads its own postings through the primary key whatever
# the planner believes of the tables (freshly written ones have no statistics: it scanned them;
# OFFSET 0 keeps it from flattening the subquery back into a join).
_QUERY = """
WITH q AS (
    SELECT * FROM unnest(%(entries)s::int[], %(terms)s::text[], %(weights)s::float8[])
        AS q(entry, term, weight)
), st AS (
    SELECT chunks::float8 AS n,
           CASE WHEN chunks > 0 AND total_length > 0 THEN total_length::float8 / chunks ELSE 1.0 END AS avg
    FROM {s}.stats
), df AS (
    SELECT t.term, d.df
    FROM (SELECT DISTINCT term FROM q) t
    CROSS JOIN LATERAL (SELECT count(*)::float8 AS df FROM {s}.postings p WHERE p.term = t.term) d
    WHERE d.df > 0
), scored AS (
    SELECT p.chunk_id, q.entry, max(q.weight) AS weight,
           max(ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5)) * p.tf * (%(k1)s + 1)
               / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.length / st.avg))) AS best
    FROM q JOIN df ON df.term = q.term CROSS JOIN st
    CROSS JOIN LATERAL (SELECT chunk_id, tf, length FROM {s}.postings p WHERE p.term = q.term OFFSET 0) p
    {filter}
    GROUP BY p.chunk_id, q.entry
)
SELECT chunk_id, sum(weight * best) AS score FROM scored
GROUP BY chunk_id ORDER BY score DESC, chunk_id LIMIT %(k)s
"""
_FILTER = "WHERE p.chunk_id IN (SELECT id FROM {s}.chunks WHERE document_id = ANY(%(documents)s))"


def query_entries(
    terms: Sequence[str | tuple[str, ...]], *, headings_only: bool
) -> tuple[list[int], list[str], list[float]]:
    """(entry, term, weight) rows: one entry per query word and field, its alternatives as terms."""
    entries: list[int] = []
    flat: list[str] = []
    weights: list[float] = []
    words = dict.fromkeys((term,) if isinstance(term, str) else tuple(term) for term in terms)
    fields = ((HEADING, HEADING_WEIGHT),) if headings_only else (("", 1.0), (HEADING, HEADING_WEIGHT))
    entry = 0
    for word in words:
        for prefix, weight in fields:
            for term in dict.fromkeys(word):
                entries.append(entry)
                flat.append(prefix + term)
                weights.append(weight)
            entry += 1
    return entries, flat, weights


def search_sql(schema: sql.Identifier, *, filtered: bool) -> sql.Composed:
    where = sql.SQL(_FILTER).format(s=schema) if filtered else sql.SQL("")
    return sql.SQL(_QUERY).format(s=schema, filter=where)


def search_params(
    terms: Sequence[str | tuple[str, ...]], k: int, *, headings_only: bool, document_ids: Sequence[str] | None
) -> dict[str, object]:
    entries, flat, weights = query_entries(terms, headings_only=headings_only)
    params: dict[str, object] = {
        "entries": entries,
        "terms": flat,
        "weights": weights,
        "k1": K1,
        # A headings-only search is not normalised by the chunk's length, as the folder store's.
        "b": 0.0 if headings_only else B,
        "k": k,
    }
    if document_ids is not None:
        params["documents"] = list(document_ids)
    return params


def postings(terms: str, heading_terms: str) -> tuple[int, list[tuple[str, int]]]:
    """(length, [(term, tf)]) of one chunk, as the folder store's index counts them."""
    text = terms.split()
    counted = Counter(text)
    counted.update(HEADING + term for term in heading_terms.split())
    return len(text), list(counted.items())
