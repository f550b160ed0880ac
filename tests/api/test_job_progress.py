"""Per-file progress of a background ingest: an entry per file from the start, its stage as it moves
(OCR page i of n while a scan is read), and the outcome in the same entry at the end."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from ingest.pipeline import SourceFile, ingest_files
from rag.progress import Stage
from tests.api.conftest import PODATEK
from tests.ingest.ocr_fixtures import image_pdf, require_ocr, text_image


class Recorder:
    """An IngestProgress that keeps every report."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Stage, int | None, int | None]] = []

    def stage(
        self, path: str, stage: Stage, ocr_page: int | None = None, ocr_pages: int | None = None
    ) -> None:
        self.seen.append((path, stage, ocr_page, ocr_pages))

    def of(self, path: object) -> list[tuple[Stage, int | None, int | None]]:
        return [(stage, page, pages) for where, stage, page, pages in self.seen if where == str(path)]


def scan_pdf() -> bytes:
    return image_pdf(text_image(), text_image(["Strona druga: odpady zakaźne i ich unieszkodliwianie."]))


def test_pipeline_reports_each_files_stages_in_order(library, tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_ocr()
    scan = tmp_path / "skan.pdf"
    scan.write_bytes(scan_pdf())
    text = tmp_path / "akt.pdf"
    text.write_bytes(PODATEK.read_bytes())
    broken = tmp_path / "zepsuty.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    recorder = Recorder()
    files = [SourceFile(scan, "skan.pdf"), SourceFile(text, "akt.pdf"), SourceFile(broken, "zepsuty.pdf")]
    report = ingest_files(library, files, workers=1, progress=recorder)
    assert sorted(report.added) == ["akt.pdf", "skan.pdf"]

    assert recorder.of(scan) == [
        ("parsing", None, None),
        ("ocr", 1, 2),
        ("ocr", 2, 2),
        ("parsed", None, None),
        ("embedding", None, None),
        ("storing", None, None),
        ("done", None, None),
    ]
    assert [stage for stage, _, _ in recorder.of(text)] == [
        "parsing",
        "parsed",
        "embedding",
        "storing",
        "done",
    ]
    assert [stage for stage, _, _ in recorder.of(broken)] == ["parsing", "failed"]

    again = Recorder()  # unchanged files are done without parsing
    ingest_files(library, files[1:2], workers=1, progress=again)
    assert again.of(text) == [("done", None, None)]


def test_background_job_lists_every_file_from_the_start_with_its_stage(client: TestClient) -> None:
    require_ocr()
    response = client.post(
        "/v1/documents?background=true",
        files=[
            ("files", ("skan.pdf", scan_pdf())),
            ("files", ("akt.pdf", PODATEK.read_bytes())),
            ("files", ("notatka.exe", b"MZ\x90\x00 not a document")),
        ],
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert [f["filename"] for f in job["files"]] == ["notatka.exe", "skan.pdf", "akt.pdf"]
    assert job["files"][0]["status"] == "failed" and job["files"][0]["stage"] == "failed"
    for entry in job["files"][1:]:
        assert entry["status"] in ("pending", "added")
    url = response.headers["location"]

    seen: set[tuple[str, str, int | None, int | None]] = set()
    deadline = time.monotonic() + 120
    while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
        job = client.get(url).json()
        for entry in job["files"]:
            seen.add((entry["filename"], entry["stage"], entry["ocr_page"], entry["ocr_pages"]))
            if entry["status"] == "pending":
                assert entry["stage"] in ("queued", "parsing", "ocr", "parsed", "embedding", "storing")
        time.sleep(0.02)
    assert job["status"] == "done", job
    assert [(f["filename"], f["status"], f["stage"]) for f in job["files"]] == [
        ("notatka.exe", "failed", "failed"),
        ("skan.pdf", "added", "done"),
        ("akt.pdf", "added", "done"),
    ]
    assert job["files"][1]["pages"] == 2 and job["files"][1]["ocr_page"] is None
    # OCR of a page takes seconds and the job is polled every 20 ms: each page shows.
    assert ("skan.pdf", "ocr", 1, 2) in seen and ("skan.pdf", "ocr", 2, 2) in seen, seen
