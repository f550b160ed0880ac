"""Re-analysing a PostgreSQL collection's chunks when polrag's analyser changed (ANALYSIS_VERSION),
as the folder store does on open: new terms, postings and BM25 counters, in one transaction."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from rag.analysis import ANALYSIS_VERSION
from rag.collection_writer import lexical_entry
from rag.pg.lexical import postings
from rag.pg.writer import collection_lock

log = logging.getLogger(__name__)
BATCH = 2000


def reanalyse_if_stale(conn: psycopg.Connection[Any], name: str) -> None:
    """Bring collection ``name``'s terms to the current analyser; a no-op when they are current.

    Writers wait meanwhile (the collection's lock is taken alone); searches read the old terms
    until the transaction commits."""
    current = str(ANALYSIS_VERSION)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (collection_lock(name),))
        row = conn.execute(
            "SELECT schema_name, analysis_version FROM polrag.collections WHERE name = %s", (name,)
        ).fetchone()
        if row is None or row[1] == current:
            return
        s = sql.Identifier(row[0])
        conn.execute(sql.SQL("TRUNCATE {}.postings").format(s))
        last = 0
        while True:
            rows = conn.execute(
                sql.SQL("SELECT id, text, heading FROM {}.chunks WHERE id > %s ORDER BY id LIMIT %s").format(
                    s
                ),
                (last, BATCH),
            ).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            entries = [(chunk_id, *lexical_entry(text, heading)) for chunk_id, text, heading in rows]
            with conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        "UPDATE {}.chunks SET terms = %s, heading_terms = %s, length = %s WHERE id = %s"
                    ).format(s),
                    [(terms, heading, len(terms.split()), chunk_id) for chunk_id, terms, heading in entries],
                )
                with cursor.copy(
                    sql.SQL("COPY {}.postings (term, chunk_id, tf, length) FROM STDIN").format(s)
                ) as copy:
                    for chunk_id, terms, heading in entries:
                        length, counted = postings(terms, heading)
                        for term, tf in counted:
                            copy.write_row((term, chunk_id, tf, length))
        conn.execute(
            sql.SQL(
                "UPDATE {s}.stats SET chunks = (SELECT count(*) FROM {s}.chunks), "
                "total_length = (SELECT coalesce(sum(length), 0) FROM {s}.chunks)"
            ).format(s=s)
        )
        conn.execute("UPDATE polrag.collections SET analysis_version = %s WHERE name = %s", (current, name))
    log.info("collection %s: chunks analysed (analysis version %s)", name, current)
