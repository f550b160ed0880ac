"""Every vector `polrag ingest` stores is the embedding of its own chunk (its heading, then its text).

Run as a user runs it: the real CLI in a fresh process, so whatever the command imports before
the embedder loads is in play. Importing the OCR module once set OMP_THREAD_LIMIT=1 after torch
had chosen its thread count; the bf16 forward pass then left half of each batch's rows unwritten
and about half the stored vectors belonged to no chunk at all (dense R@5 on tests/data/eval fell
from 0.357 to 0.167), while every unit test of the embedder, which never imported ingest, passed.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

from ingest.chunking import embedding_texts
from rag.types import Chunk

DATA = Path(__file__).parent / "data"


def test_ingested_vectors_are_the_embeddings_of_their_chunks(settings, embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = [DATA / "eval" / "DU_2020_poz5.pdf", DATA / "eval" / "rybacy.docx"]
    done = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "ingest", *map(str, files), "--json"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    with sqlite3.connect(settings.index_dir / "default" / "catalog.sqlite3") as catalog:
        rows = catalog.execute(
            "SELECT document_id, ordinal, text, heading, char_start, char_end, tokens, vector "
            "FROM chunks ORDER BY id"
        ).fetchall()
    assert len(rows) >= 10, "enough chunks for several rows per embedding batch"
    stored = np.stack([np.frombuffer(row[-1], dtype=np.float32) for row in rows])
    # What the pipeline gives the embedder: the chunk under its heading where that fits.
    chunks = [
        Chunk(doc, "", ordinal, text, None, None, start, end, heading=heading, token_count=tokens)
        for doc, ordinal, text, heading, start, end, tokens, _ in rows
    ]
    texts = embedding_texts(chunks, embedder.token_counter(), embedder.max_passage_tokens)
    assert any(text != chunk.text for text, chunk in zip(texts, chunks, strict=True)), (
        "some chunks read under a heading"
    )
    fresh = embedder.encode_passages(texts)
    agreement = np.sum(stored * fresh, axis=1)
    # bf16 weights in both processes; a wrong row is near 0.1, a right one above 0.99.
    assert agreement.min() > 0.98, [round(float(a), 3) for a in agreement]
