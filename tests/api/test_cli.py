"""The polrag command line, end to end with the real MiniLM model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()
POLISH = (
    "Nadleśniczy prowadzi gospodarkę leśną w nadleśnictwie. Plan urządzenia lasu sporządza się na 10 lat."
)


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


@pytest.fixture()
def batch(tmp_path: Path, real_pdfs: list[Path]) -> Path:
    """A folder of good files and every kind of bad one."""
    folder = tmp_path / "batch"
    (folder / "akty").mkdir(parents=True)
    for pdf in real_pdfs:
        (folder / "akty" / pdf.name).write_bytes(pdf.read_bytes())
    (folder / "notatka.txt").write_text(POLISH, encoding="cp1250")
    (folder / "pusty.txt").write_bytes(b"")
    (folder / "zepsuty.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    (folder / "arkusz.xlsx").write_bytes(b"PK\x03\x04 not really")
    (folder / ".ukryty.txt").write_text("hidden files are skipped")
    return folder


def test_every_command_has_help() -> None:
    for command in (
        ["ingest"],
        ["search"],
        ["ask"],
        ["documents", "list"],
        ["documents", "show"],
        ["documents", "delete"],
    ):
        code, out = run(*command, "--help")
        assert code == 0 and "--collection" in out, command


def test_ingest_reports_bad_files_and_commits_the_rest(settings, batch: Path) -> None:  # type: ignore[no-untyped-def]
    code, out = run("ingest", str(batch), "--json", "--workers", "2")
    report = json.loads(out)
    assert code == 1
    assert (report["added"], report["replaced"], report["unchanged"]) == (3, 0, 0)
    assert report["chunks"] > 3
    errors = {Path(f["path"]).name: f["error"] for f in report["failed"]}
    assert errors == {
        "pusty.txt": "empty file",
        "zepsuty.pdf": errors["zepsuty.pdf"],
        "arkusz.xlsx": "unsupported file type '.xlsx'",
    }
    assert errors["zepsuty.pdf"].startswith("corrupt PDF")

    code, out = run("documents", "list", "--json")
    names = sorted(doc["file_name"] for doc in json.loads(out)["documents"])
    assert names == ["akty/DU_2020_poz12.pdf", "akty/DU_2020_poz3.pdf", "notatka.txt"]

    # The same batch again: nothing new, the same failures, exit code still 1.
    code, out = run("ingest", str(batch), "--json")
    again = json.loads(out)
    assert code == 1 and again["unchanged"] == 3 and again["added"] == 0 and len(again["failed"]) == 3


def test_search_documents_show_and_delete(settings, real_pdfs: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    note = tmp_path / "notatka.txt"
    note.write_text(POLISH, encoding="utf-8")
    code, _ = run("ingest", str(note), *map(str, real_pdfs), "--collection", "prawo")
    assert code == 0

    code, out = run("search", "infectious waste properties", "-c", "prawo", "-k", "3", "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and len(hits) == 3
    assert set(hits[0]) == {"document", "document_id", "page", "text", "score", "chunk_id"}
    assert hits[0]["document"] == "DU_2020_poz3.pdf" and isinstance(hits[0]["page"], int)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]

    code, out = run("search", "na ile lat sporządza się plan urządzenia lasu", "-c", "prawo")
    assert code == 0 and "notatka.txt" in out.splitlines()[0]

    document_id = hits[0]["document_id"]
    code, out = run("documents", "show", document_id, "-c", "prawo", "--json")
    shown = json.loads(out)
    assert shown["file_name"] == "DU_2020_poz3.pdf" and shown["pages"] == 3
    assert [c["ordinal"] for c in shown["chunks"]] == list(range(shown["chunks"].__len__()))

    code, out = run("documents", "delete", document_id, "-c", "prawo", "--json")
    assert code == 0 and json.loads(out) == {"deleted": document_id}
    code, out = run("search", "infectious waste properties", "-c", "prawo", "--json")
    assert all(hit["document_id"] != document_id for hit in json.loads(out)["hits"])


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_errors_are_one_clear_line_with_exit_code_2(settings, library) -> None:  # type: ignore[no-untyped-def]
    bad = cli("search", "las", env={"POLRAG_CHUNK_TOKENS": "100", "POLRAG_CHUNK_OVERLAP_TOKENS": "100"})
    assert bad.returncode == 2
    assert "POLRAG_CHUNK_OVERLAP_TOKENS (100) must be smaller than POLRAG_CHUNK_TOKENS (100)" in bad.stderr
    assert "Traceback" not in bad.stderr

    missing = cli("documents", "list", "--collection", "brak", env={})
    assert missing.returncode == 2 and "collection 'brak' does not exist" in missing.stderr

    # A missing document in a collection that exists (not a missing collection).
    library.collection(create=True)
    unknown = cli("documents", "delete", "nieistnieje", env={})
    assert unknown.returncode == 2, unknown.stderr
    assert "no document with id 'nieistnieje' in collection 'default'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_documents_show_of_a_text_file_prints_no_none(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    note = tmp_path / "notatka.txt"
    note.write_text(POLISH, encoding="utf-8")
    code, out = run("ingest", str(note), "--json")
    assert code == 0
    code, out = run("documents", "list", "--json")
    document_id = json.loads(out)["documents"][0]["id"]
    code, out = run("documents", "show", document_id)
    assert code == 0
    chunk_lines = [line for line in out.splitlines() if line.startswith("  #")]
    assert chunk_lines and chunk_lines[0].startswith("  #0  Nadleśniczy prowadzi")
    assert "None" not in out


def test_a_hub_warning_is_printed_once() -> None:
    # huggingface_hub has a stderr handler of its own; the CLI's root handler printed each of
    # its warnings (an offline download retries five times per file) a second time.
    script = (
        "import logging, sys\n"
        "import huggingface_hub.utils.logging  # adds the hub's own handler, as loading a model does\n"
        "from api import cli\n"
        "@cli.app.command('hub-warning')\n"
        "def hub_warning() -> None:\n"
        "    logging.getLogger('huggingface_hub.utils._http').warning('Retrying in 1s [Retry 1/5].')\n"
        "sys.argv = ['polrag', 'hub-warning']\n"
        "cli.main()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Retrying in 1s [Retry 1/5].") == 1, result.stderr


def test_eval_warns_of_questions_about_documents_the_collection_lacks(
    settings, real_pdfs: list[Path], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    code, _ = run("ingest", *map(str, real_pdfs))
    assert code == 0
    qa = tmp_path / "qa.jsonl"
    lines = [
        {"question": "warunki uznania odpadów za zakaźne", "document": real_pdfs[0].name},
        {"question": "plan urządzenia lasu", "document": "ustawa_o_lasach.pdf"},  # not ingested
    ]
    qa.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines), encoding="utf-8")
    result = cli("eval", str(qa), "-m", "lexical", "--json", env={})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["questions"] == 2
    assert (
        "warning: 1 of 2 questions name a document that is not in collection 'default' "
        "('ustawa_o_lasach.pdf'); they count as misses"
    ) in result.stderr
