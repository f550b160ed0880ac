"""A collection's manifest: what it was built with, checked whenever it is opened."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rag.errors import CollectionError, EmbeddingMismatch

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def creation_stamp() -> str:
    """When a collection is made, to the microsecond: it tells a collection from one deleted and made
    again under its name (page-image ETags, a writer's check that its folder is still the one it
    opened), so two made within one second must not share it."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a collection was built with; opening it with another embedder is refused."""

    embedding_model: str
    dimension: int
    query_prefix: str
    passage_prefix: str
    chunk_tokens: int
    chunk_overlap_tokens: int
    max_chunk_tokens: int
    format_version: int = FORMAT_VERSION
    created_at: str = ""

    def check_compatible(self, other: Manifest, name: str) -> None:
        if self.format_version > FORMAT_VERSION:
            raise CollectionError(
                f"collection {name!r} has format version {self.format_version}; "
                f"this polrag reads up to {FORMAT_VERSION}: upgrade polrag"
            )
        if self.embedding_model == other.embedding_model and self.dimension != other.dimension:
            raise EmbeddingMismatch(  # same name, other vectors: a server now serves another model
                f"collection {name!r} holds {self.dimension}-d vectors of {self.embedding_model!r}, "
                f"but the embedder now gives {other.dimension}-d vectors under that name; "
                "serve the model the collection was built with, or use another collection"
            )
        if (self.embedding_model, self.dimension) != (other.embedding_model, other.dimension):
            raise EmbeddingMismatch(
                f"collection {name!r} was built with embedding model {self.embedding_model!r} "
                f"({self.dimension}-d) but POLRAG_EMBEDDING_MODEL is {other.embedding_model!r} "
                f"({other.dimension}-d); set POLRAG_EMBEDDING_MODEL={self.embedding_model} "
                "or use another collection"
            )


def read_manifest(folder: Path) -> Manifest:
    try:
        data = json.loads((folder / MANIFEST).read_text("utf-8"))
        return Manifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise CollectionError(f"collection {folder.name!r} has an unreadable manifest: {exc}") from None


def list_collections(index_dir: Path) -> list[str]:
    if not index_dir.is_dir():
        return []
    return sorted(p.name for p in index_dir.iterdir() if (p / MANIFEST).is_file())
