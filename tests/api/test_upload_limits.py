"""Documents over a limit through the CLI and the HTTP API: refused with the reason, the rest goes on.

Peak memory is measured, not guessed: the CLI's as ru_maxrss of a fresh process, the
server's as the growth of its VmHWM (Linux resets it on writing 5 to clear_refs).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_client, upload
from tests.api.server_process import polrag_command, polrag_server, tiny_server_env
from tests.ingest import bombs

GROWTH_CEILING_MIB = 150  # what the bombs may add to a process's peak; one inflated would add 400+
ROOT = Path(__file__).resolve().parents[2]
GOOD_TEXT = "Umowa najmu lokalu użytkowego w Łodzi zawarta na czas nieokreślony. Czynsz płatny z góry."

# file -> (status when uploaded alone, error code, part of the message)
UPLOADS = {
    "bomba.odt": (413, "document_too_large", "POLRAG_MAX_COMPRESSION_RATIO"),
    "bomba.docx": (413, "document_too_large", "more than 64 MiB (the limit is POLRAG_MAX_MARKUP_MB"),
    "puste.pdf": (413, "document_too_large", "20,000 pages, more than 5,000"),
    "klamca.docx": (422, "bad_document", "Bad CRC-32"),
    "smiech.odt": (422, "bad_document", "declares XML entities"),
    "skan.png": (413, "document_too_large", "(the limit is POLRAG_MAX_IMAGE_PIXELS"),
}


@pytest.fixture(scope="session")
def bomb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bombs.build_all(tmp_path_factory.getbasetemp() / "bombs")


@pytest.fixture()
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "notatka.txt"
    path.write_text(GOOD_TEXT, encoding="utf-8")
    return path


def _rss_kib(pid: int | str = "self", field: str = "VmRSS") -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


def _reset_peak(pid: int | str = "self") -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# -- CLI -----------------------------------------------------------------------------------------

MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=240)  # kills polrag too
sys.stderr.write(done.stdout)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _cli_ingest(settings, *paths: Path, index: Path) -> tuple[int, dict, float, float]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POLRAG_INDEX_DIR": str(index)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *polrag_command(), "ingest", *map(str, paths), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    seconds = time.perf_counter() - started
    code, peak_kib = done.stdout.split()
    return int(code), json.loads(done.stderr[done.stderr.index("{") :]), int(peak_kib) / 1024, seconds


def test_cli_refuses_every_bomb_and_stores_the_good_file(
    settings, bomb_dir: Path, good_file: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _, _, baseline_mib, baseline_s = _cli_ingest(settings, good_file, index=tmp_path / "baseline")
    code, report, peak_mib, seconds = _cli_ingest(settings, bomb_dir, good_file, index=tmp_path / "bombs")
    assert code == 1  # some files failed
    assert report["added"] == 1
    errors = {Path(f["path"]).name: f["error"] for f in report["failed"]}
    assert sorted(errors) == sorted(bombs.BOMBS)
    for name, (_, expected) in bombs.BOMBS.items():
        assert expected in errors[name]
    # Eight bombs (3,200 MiB if inflated) cost no more than the process with one small file.
    assert peak_mib < baseline_mib + GROWTH_CEILING_MIB, (peak_mib, baseline_mib)
    # The bombs' refusals add seconds at most (each is timed alone in tests/ingest/test_bombs.py).
    assert seconds < 1.5 * baseline_s + 20, (seconds, baseline_s)


# -- API, in process ------------------------------------------------------------------------------


@pytest.fixture()
def roomy_client(settings, embedder, tiny_generator, tiny_llm_path: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The app with the default 50 MiB upload cap: the bombs are small files, they pass it."""
    from rag.settings import load_settings

    monkeypatch.setenv("POLRAG_LLM_MODEL", tiny_llm_path)
    with make_client(load_settings(), embedder, tiny_generator) as client:
        yield client


def test_an_upload_over_a_limit_answers_with_the_reason_in_bounded_memory(
    roomy_client, bomb_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    assert roomy_client.get("/healthz").status_code == 200  # everything loaded before the measure
    before = _rss_kib()
    _reset_peak()
    for name, (status, code, message) in UPLOADS.items():
        started = time.perf_counter()
        response = upload(roomy_client, (name, (bomb_dir / name).read_bytes()))
        assert time.perf_counter() - started < 5.0, name
        assert response.status_code == status, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == code
        assert message in error["message"]
        if status == 413:
            assert response.json()["files"][0]["limit"].startswith("POLRAG_MAX_")
    growth_mib = (_rss_kib(field="VmHWM") - before) / 1024
    assert growth_mib < GROWTH_CEILING_MIB, growth_mib

    # A bomb beside a good file: the good one is stored, the bomb is reported with its limit.
    response = upload(
        roomy_client,
        ("bomba.odt", (bomb_dir / "bomba.odt").read_bytes()),
        ("notatka.txt", GOOD_TEXT.encode()),
    )
    assert response.status_code == 200, response.text
    files = {f["filename"]: f for f in response.json()["files"]}
    assert files["notatka.txt"]["status"] == "added"
    assert files["bomba.odt"]["status"] == "failed"
    assert files["bomba.odt"]["limit"] == "POLRAG_MAX_COMPRESSION_RATIO"
    assert roomy_client.get("/healthz").status_code == 200
    listed = roomy_client.get("/v1/documents").json()["documents"]
    assert [d["file_name"] for d in listed] == ["notatka.txt"]  # nothing half-stored


def test_a_lowered_limit_is_enforced_and_named(
    settings, embedder, tiny_generator, tiny_llm_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from rag.settings import load_settings
    from tests.api.conftest import ODPADY

    monkeypatch.setenv("POLRAG_LLM_MODEL", tiny_llm_path)
    monkeypatch.setenv("POLRAG_MAX_DOCUMENT_CHARS", "2000")
    with make_client(load_settings(), embedder, tiny_generator) as client:
        response = upload(client, (ODPADY.name, ODPADY.read_bytes()))
    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        f"no file could be ingested: {ODPADY.name}: document text is over 2,000 characters "
        "(the limit is POLRAG_MAX_DOCUMENT_CHARS; raise it to ingest this document)"
    )


# -- a real server -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, minilm_path: str, tiny_llm_path: str
) -> Iterator[tuple[str, int]]:
    env = tiny_server_env(minilm_path, tiny_llm_path, PYTHONPATH=str(ROOT), api_keys="")
    with polrag_server(tmp_path_factory, "limits", env) as running:
        yield running.base, running.process.pid


def _large_allowed_text() -> bytes:
    """About 150,000 characters of real acts: well under the limits, seconds to tens of seconds to embed."""
    from ingest.loaders import load_file
    from tests.api.conftest import ODPADY, PODATEK

    text = "\n".join(p.text for path in (ODPADY, PODATEK) for p in load_file(path).pages)
    copies = 150_000 // len(text) + 1
    return "\n".join(f"Część {n}.\n{text}" for n in range(copies)).encode()


def test_server_stays_up_through_bombs_and_a_large_ingest(server: tuple[str, int], bomb_dir: Path) -> None:
    base, pid = server
    with httpx.Client(base_url=base, timeout=60) as http:
        http.post("/v1/search", json={"query": "odpady"})  # warm the query path before measuring
        before = _rss_kib(pid)
        _reset_peak(pid)
        for name, (status, _, message) in UPLOADS.items():
            response = http.post("/v1/documents", files=[("files", (name, (bomb_dir / name).read_bytes()))])
            assert response.status_code == status, response.text
            assert message in response.json()["error"]["message"]
        growth_mib = (_rss_kib(pid, "VmHWM") - before) / 1024
        assert growth_mib < GROWTH_CEILING_MIB, growth_mib

        result: dict[str, httpx.Response] = {}

        def ingest_large() -> None:
            with httpx.Client(base_url=base, timeout=600) as uploader:
                result["upload"] = uploader.post(
                    "/v1/documents", files=[("files", ("duzy.txt", _large_allowed_text()))]
                )

        worker = threading.Thread(target=ingest_large)
        worker.start()
        health_s: list[float] = []
        search_s: list[float] = []
        while worker.is_alive():
            started = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            health_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert http.post("/v1/search", json={"query": "odpady zakaźne"}).status_code == 200
            search_s.append(time.perf_counter() - started)
            time.sleep(0.2)
        worker.join()
    assert result["upload"].status_code == 200, result["upload"].text
    assert result["upload"].json()["files"][0]["status"] == "added"
    assert len(health_s) >= 3, "the large ingest ended too soon to show anything"
    assert max(health_s) < 2.0, health_s
    assert max(search_s) < 10.0, search_s
