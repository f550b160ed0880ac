"""Stores for the contract suite: the embedded folder and PostgreSQL, opened the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.store import StoreBackend


def open_backend(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreBackend:
    if kind == "embedded":
        from rag.embedded import EmbeddedBackend

        return EmbeddedBackend(tmp_path / "indexes", lock_timeout=5)
    from rag.pg.backend import PgBackend

    url = request.getfixturevalue("database_url")
    return PgBackend(url, pool_size=4, lock_timeout=5)


@pytest.fixture(params=["embedded", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    opened = open_backend(request.param, tmp_path, request)
    yield opened
    opened.close()
