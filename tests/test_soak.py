"""The soak of bench/soak.py, cut to 60 seconds: the real server, clients at once, kill -9, restarts."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.soak
@pytest.mark.parametrize("store", ["embedded", "postgres"])
def test_soak_60_seconds_with_kills(
    tmp_path: Path, minilm_path: str, tiny_llm_path: str, store: str, request: pytest.FixtureRequest
) -> None:
    from bench.soak import SoakConfig, run_soak

    database_url = request.getfixturevalue("database_url") if store == "postgres" else ""

    lines: list[str] = []
    config = SoakConfig(
        duration_s=60,
        clients=3,
        kill_every_s=15,
        files_per_client=6,
        embedder=minilm_path,
        llm=tiny_llm_path,
        work_dir=tmp_path,
        database_url=database_url,
    )
    result = run_soak(config, progress=lines.append)
    report = "\n".join([*lines, *result.violations, f"server log: {tmp_path / 'server.log'}"])
    assert result.kills >= 2, report
    assert result.documents_lost == 0, report
    assert result.violations == [], report
    assert result.unexpected_5xx == 0, report
    # It did real work between kills: uploads, deletes and searches were answered.
    assert min(result.requests_by_kind.get(kind, 0) for kind in ("upload", "delete", "search")) > 10, result
    assert result.checks == result.kills + 1
