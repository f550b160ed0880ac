"""Scanned documents through the whole ingest: searchable at the right page, or one clear line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ingest.ocr import PACKAGES, OcrOptions, available, forget_engines
from ingest.pipeline import ingest_paths
from tests.ingest.fixtures import PDF_1_PAGE, PDF_3_PAGES
from tests.ingest.ocr_fixtures import DPI, image_bytes, image_pdf, require_ocr, text_image

# A sentence only page 3 of Dz.U. 2020 poz. 3 has; the scan holds pages 1 and 3, so it is on page 2.
PAGE_3_QUERY = "Pobieranie próbek odpadów i przygotowanie próbek reprezentatywnych zgodnie z Polskimi Normami"


def scan_of(pdf: Path, pages: list[int]) -> bytes:
    """An image-only copy of ``pages`` of ``pdf``, rendered at the tests' 200 dpi."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf.read_bytes())
    images = [document[n - 1].render(scale=DPI / 72, grayscale=True).to_pil() for n in pages]
    return image_pdf(*images)


@pytest.fixture()
def ocr_client(settings, embedder, tiny_generator, tiny_llm_path, monkeypatch):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from api.app import create_app
    from rag.library import Library
    from rag.settings import load_settings

    require_ocr()
    monkeypatch.setenv("POLRAG_LLM_MODEL", tiny_llm_path)
    monkeypatch.setenv("POLRAG_LLM_MAX_NEW_TOKENS", "8")
    monkeypatch.setenv("POLRAG_OCR_DPI", str(DPI))
    current = load_settings()
    library = Library(current, embedder=embedder)
    with TestClient(create_app(current, library=library, generator=tiny_generator)) as client:
        yield client


def test_scanned_act_is_searchable_and_found_at_its_page(ocr_client) -> None:  # type: ignore[no-untyped-def]
    scan = scan_of(PDF_3_PAGES, [1, 3])
    response = ocr_client.post("/v1/documents", files=[("files", ("DU_2020_poz3_skan.pdf", scan))])
    assert response.status_code == 200, response.text
    (result,) = response.json()["files"]
    assert result["status"] == "added", result
    document = ocr_client.get(f"/v1/documents/{result['id']}").json()
    assert document["pages"] == 2
    assert [(p["page"], p["low_confidence"]) for p in document["ocr_pages"]] == [(1, False), (2, False)]
    assert all(p["confidence"] > 80 and p["words"] > 100 for p in document["ocr_pages"])

    hits = ocr_client.post("/v1/search", json={"query": PAGE_3_QUERY, "mode": "lexical", "k": 3}).json()[
        "hits"
    ]
    assert hits[0]["document"] == "DU_2020_poz3_skan.pdf" and hits[0]["page"] == 2, hits[0]
    assert "próbek reprezentatywnych" in hits[0]["text"]
    # The answer's passages (what its citations point at) carry the same page.
    answer = ocr_client.post("/v1/ask", json={"question": PAGE_3_QUERY + "?", "k": 1}).json()
    assert [p["page"] for p in answer.get("passages", [])] == [2], answer
    # The document list does not carry per-page detail; only the document view does.
    listed = ocr_client.get("/v1/documents").json()["documents"]
    assert listed[0].get("ocr_pages") is None


def test_without_tesseract_a_scan_fails_in_one_line_and_the_rest_is_ingested(
    settings, embedder, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from rag.library import Library
    from rag.settings import load_settings

    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setenv("POLRAG_OCR_TESSDATA", str(empty))  # a machine without Tesseract's models
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "skan.pdf").write_bytes(image_pdf(text_image()))
    (folder / "skan.png").write_bytes(image_bytes(text_image(), "PNG"))
    (folder / PDF_1_PAGE.name).write_bytes(PDF_1_PAGE.read_bytes())
    library = Library(load_settings(), embedder=embedder)
    try:
        report = ingest_paths(library, [folder], workers=0)
    finally:
        library.close()
    assert report.added == [PDF_1_PAGE.name]
    errors = {Path(f.path).name: f.error for f in report.failed}
    assert set(errors) == {"skan.pdf", "skan.png"}
    for error in errors.values():
        assert f"install {PACKAGES}" in error and "\n" not in error, error


def test_without_the_tesserocr_module_ocr_is_unavailable_with_the_fix(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ingest.loaders import parse_bytes
    from rag.errors import BadDocumentError

    forget_engines()
    monkeypatch.setitem(sys.modules, "tesserocr", None)  # import fails as where it is not installed
    try:
        assert not available(OcrOptions())
        with pytest.raises(BadDocumentError, match=r"pip install tesserocr, and install tesseract-ocr "):
            parse_bytes(image_bytes(text_image(), "PNG"), "skan.png", ocr=OcrOptions())
        # A PDF with a good text layer needs no OCR and still loads.
        assert parse_bytes(PDF_1_PAGE.read_bytes(), PDF_1_PAGE.name, ocr=OcrOptions()).pages
    finally:
        forget_engines()


def test_documents_show_lists_ocr_pages_and_flags_those_under_the_floor(
    settings, embedder, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from api.cli import app
    from rag.library import Library

    require_ocr()
    scan = tmp_path / "skan.tiff"
    scan.write_bytes(image_bytes(text_image(), "TIFF", save_all=True, append_images=[text_image()]))
    library = Library(settings, embedder=embedder)
    try:
        report = ingest_paths(library, [scan], workers=0)
    finally:
        library.close()
    (outcome,) = report.outcomes
    assert outcome.status == "added", outcome
    runner = CliRunner()
    shown = runner.invoke(app, ["documents", "show", str(outcome.document_id)])
    assert shown.exit_code == 0, shown.output
    assert "OCR'd pages: 2, 0 under the confidence floor of 70" in shown.output
    assert "s. 2  OCR, confidence" in shown.output and "LOW CONFIDENCE" not in shown.output
    monkeypatch.setenv("POLRAG_OCR_CONFIDENCE_FLOOR", "99.9")  # no real page reads that sure
    flagged = runner.invoke(app, ["documents", "show", str(outcome.document_id), "--json"])
    pages = json.loads(flagged.output)["ocr_pages"]
    assert [(p["page"], p["low_confidence"]) for p in pages] == [(1, True), (2, True)]


def test_omp_thread_limit_is_set_in_parser_processes_only() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
    env["PYTHONPATH"] = str(root)
    script = (
        "import os\n"
        "import ingest.pipeline, ingest.ocr\n"
        "print(os.environ.get('OMP_THREAD_LIMIT'))\n"
        "from ingest.chunking import ChunkingParams\n"
        "from ingest.prepare import init_worker\n"
        "init_worker(None, ChunkingParams(100, 10, 200), 1)\n"
        "print(os.environ.get('OMP_THREAD_LIMIT'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # Set on import, it held torch (loaded later by polrag ingest) to one OpenMP thread.
    assert done.stdout.split() == ["None", "1"]
