"""Small files that expand without bound are refused in seconds, in bounded memory, with a reason.

Each bomb is loaded in a fresh Python process so its peak RSS is its own; the ceiling is
stated below. Before the limits, the 400 MiB ODT was inflated whole and parsed (gigabytes).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ingest.chunking import ChunkingParams
from ingest.limits import DocumentLimits
from ingest.loaders import parse_bytes
from ingest.prepare import FailedFile, prepare_file
from rag.errors import BadDocumentError, DocumentTooLarge
from tests.ingest import bombs
from tests.ingest import fixtures as fx

LOADER_PEAK_MIB = 200  # Python + lxml + PDFium take about 45 MiB; a 400 MiB inflation cannot fit
ADDRESS_SPACE = 2**31  # a regression fails with MemoryError instead of taking the machine
SECONDS = 5.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bomb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bombs.build_all(tmp_path_factory.getbasetemp() / "bombs")


LOAD_AND_MEASURE = """
import json, sys, time
from pathlib import Path
from ingest.loaders import load_file
from rag.errors import BadDocumentError
started = time.perf_counter()
try:
    load_file(Path(sys.argv[1]))
    reason = None
except BadDocumentError as exc:
    reason = exc.reason
# VmHWM is this process's own peak: ru_maxrss would carry the (large) pytest parent's across fork+exec.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"reason": reason, "seconds": time.perf_counter() - started,
                  "peak_mib": int(hwm.split()[1]) / 1024,
                  "pillow": "PIL" in sys.modules}))
"""


@pytest.mark.parametrize("name", list(bombs.BOMBS))
def test_bomb_is_refused_in_seconds_and_bounded_memory(name: str, bomb_dir: Path) -> None:
    expected = bombs.BOMBS[name][1]
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_MEASURE, str(bomb_dir / name)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        preexec_fn=_cap_address_space,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reason"] is not None and expected in result["reason"]
    assert "\n" not in result["reason"]
    assert result["seconds"] < SECONDS
    assert result["peak_mib"] < LOADER_PEAK_MIB, result
    # No image was decoded; a PNG (a document since OCR) is refused by Pillow's guard on its header.
    assert not result["pillow"] or name.endswith(".png")


def _cap_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def test_limit_errors_name_the_setting_that_raises_them() -> None:
    with pytest.raises(DocumentTooLarge) as caught:
        parse_bytes(fx.PDF_3_PAGES.read_bytes(), "odpady.pdf", DocumentLimits(pages=2))
    assert caught.value.setting == "POLRAG_MAX_DOCUMENT_PAGES"
    assert caught.value.reason == (
        "document has 3 pages, more than 2 (the limit is POLRAG_MAX_DOCUMENT_PAGES; raise it to ingest "
        "this document)"
    )


@pytest.mark.parametrize(
    ("name", "data", "limits", "setting"),
    [
        ("odpady.pdf", fx.PDF_3_PAGES.read_bytes(), DocumentLimits(chars=2000), "POLRAG_MAX_DOCUMENT_CHARS"),
        ("ustawa.odt", fx.build_odt(), DocumentLimits(chars=40), "POLRAG_MAX_DOCUMENT_CHARS"),
        ("ustawa.docx", fx.build_docx(page_break=True), DocumentLimits(pages=1), "POLRAG_MAX_DOCUMENT_PAGES"),
        ("ustawa.odt", fx.build_odt(), DocumentLimits(pages=1), "POLRAG_MAX_DOCUMENT_PAGES"),
        (
            "strony.txt",
            "\f".join(["Strona."] * 20).encode(),
            DocumentLimits(pages=10),
            "POLRAG_MAX_DOCUMENT_PAGES",
        ),
        (
            "duzy.txt",
            "Zażółć gęślą jaźń. ".encode() * 200,
            DocumentLimits(chars=1000),
            "POLRAG_MAX_DOCUMENT_CHARS",
        ),
        ("strona.html", fx.build_html(), DocumentLimits(markup_bytes=100), "POLRAG_MAX_MARKUP_MB"),
    ],
)
def test_every_format_counts_against_the_limits(
    name: str, data: bytes, limits: DocumentLimits, setting: str
) -> None:
    with pytest.raises(DocumentTooLarge) as caught:
        parse_bytes(data, name, limits)
    assert caught.value.setting == setting
    parse_bytes(data, name)  # within the defaults the same file loads


def test_chunk_limit_refuses_before_lemmatising(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    params = ChunkingParams(64, 8, embedder.max_passage_tokens)
    counter = embedder.token_counter()
    over = prepare_file(fx.PDF_3_PAGES, "odpady.pdf", counter, params, 2**30, DocumentLimits(chunks=3))
    assert isinstance(over, FailedFile)
    assert over.limit == "POLRAG_MAX_DOCUMENT_CHUNKS"
    assert "more than 3 (the limit is POLRAG_MAX_DOCUMENT_CHUNKS" in over.error
    assert not isinstance(prepare_file(fx.PDF_3_PAGES, "odpady.pdf", counter, params, 2**30), FailedFile)


def test_external_entity_stores_nothing_of_the_file(library, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ingest.pipeline import ingest_paths

    secret = tmp_path / "tajne.txt"
    secret.write_text("HASLO-DO-SEJFU-1234")
    odt = bombs.xxe_odt(tmp_path / "najem.odt", target=str(secret))
    good = tmp_path / "notatka.txt"
    good.write_text("Umowa najmu lokalu użytkowego w Łodzi.")
    report = ingest_paths(library, [odt, good], workers=0)
    assert [f.error for f in report.failed] == [
        "ODT part content.xml declares XML entities, which polrag does not expand; "
        "save the document again from its editor"
    ]
    assert report.added == ["notatka.txt"]  # the batch went on
    collection = library.collection()
    assert [d.file_name for d in collection.documents()] == ["notatka.txt"]
    stored = (library.settings.index_dir / collection.name / "catalog.sqlite3").read_bytes()
    assert b"HASLO-DO-SEJFU" not in stored


def test_an_external_dtd_is_never_fetched() -> None:
    """A DOCTYPE naming an outside DTD (no entities of its own) parses; the DTD is not read."""
    from ingest.loaders.archive import parse_xml

    xml = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><r><p>Umowa</p></r>'
    tree = parse_xml(xml, "test")
    assert "".join(tree.itertext()) == "Umowa"


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    deep = "<text:span>" * 300 + "Tekst" + "</text:span>" * 300
    odt = fx.build_odt(fx.odt_content_xml().replace("<text:p>", f"<text:p>{deep}", 1))
    with pytest.raises(BadDocumentError, match="corrupt ODT: Excessive depth"):
        parse_bytes(odt, "gleboki.odt")


def test_a_billion_spaces_in_thirty_bytes_stay_a_few(tmp_path: Path) -> None:
    xml = fx.odt_content_xml().replace("<text:p>", '<text:p>Ala<text:s text:c="1000000000"/>ma kota. ', 1)
    doc = parse_bytes(fx.build_odt(xml), "spacje.odt")
    assert "Ala" + " " * 100 + "ma kota" in doc.pages[0].text


def test_an_archive_of_too_many_members_is_refused_before_its_directory_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mnostwo.odt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), fx.ODT_MIMETYPE)
        archive.writestr("content.xml", fx.odt_content_xml())
        for n in range(10_000):
            archive.writestr(f"Pictures/{n}.png", b"")
    with pytest.raises(BadDocumentError, match="10,002 parts in the archive, more than 10,000"):
        parse_bytes(path.read_bytes(), "mnostwo.odt")
