"""Which store holds the collections: one setting, POLRAG_DATABASE_URL, decides."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from rag.embedded import EmbeddedBackend
from rag.settings import Settings
from rag.store import StoreBackend


def open_backend(settings: Settings, database_url: str | None = None) -> StoreBackend:
    """PostgreSQL when a database URL is set (``database_url`` overrides the setting), else folders."""
    url = settings.database_url if database_url is None else database_url
    if url:
        from rag.pg.backend import PgBackend  # psycopg only where PostgreSQL is used
        from rag.pg.index import BuildSettings

        return PgBackend(
            url,
            pool_size=settings.database_pool_size,
            ef_search=settings.hnsw_ef_search,
            lock_timeout=settings.lock_timeout_s,
            build=BuildSettings(settings.hnsw_build_memory_mb, settings.hnsw_build_workers),
        )
    return EmbeddedBackend(
        settings.index_dir,
        lock_timeout=settings.lock_timeout_s,
        ann_threshold=settings.ann_threshold,
        ann_nprobe=settings.ann_nprobe,
    )


def describe(settings: Settings) -> str:
    """Where the collections are, for logs: the database without its password, or the folder."""
    if not settings.database_url:
        return str(settings.index_dir)
    parts = urlsplit(settings.database_url)
    host = parts.hostname or dict(parse_qsl(parts.query)).get("host", "localhost")
    return f"PostgreSQL {host}{':' + str(parts.port) if parts.port else ''}{parts.path}"
