"""Collections filled with made-up documents and random unit vectors: no embedder needed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from rag.collection import Collection, Manifest
from rag.types import Chunk, Page, ParsedDocument

DIMENSION = 16


def manifest(dimension: int = DIMENSION) -> Manifest:
    return Manifest("synthetic", dimension, "", "", 100, 10, 120)


def open_collection(index_dir: Path, name: str = "synt", **options: object) -> Collection:
    return Collection.open(index_dir, name, manifest(), **options)  # type: ignore[arg-type]


def document(name: str, texts: list[str], *, seed: int = 0) -> tuple[ParsedDocument, list[Chunk], np.ndarray]:
    """A document of one chunk per text, with ``terms`` given (no analyser needed) and
    random unit vectors seeded by ``seed``."""
    body = "\n".join(texts)
    sha = hashlib.sha256(body.encode()).hexdigest()
    parsed = ParsedDocument(name, "text/plain", sha, (Page(1, body),), len(body))
    chunks = [
        Chunk("", name, i, text, 1, 1, 0, len(text), terms=" ".join(text.lower().split()))
        for i, text in enumerate(texts)
    ]
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(texts), DIMENSION)).astype(np.float32)
    return parsed, chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
