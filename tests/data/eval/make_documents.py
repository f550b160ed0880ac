"""Build the evaluation documents from official acts (Dziennik Ustaw 2020).

Run from anywhere:  python tests/data/eval/make_documents.py [SOURCE_DIR]

SOURCE_DIR defaults to ``../shared/data/pdfs`` relative to the repository root. Three
acts are copied as they are (PDF); three more are turned into other formats so that
the set covers the loaders users feed most often:

* DU_2020_poz20.pdf -> rybacy.docx           (python-docx, one paragraph per paragraph)
* DU_2020_poz18.pdf -> stawy_arimr.html      (UTF-8, <meta charset>, <h1>/<p>)
* DU_2020_poz11.pdf -> owoce_warzywa.txt     (UTF-8, one paragraph per line)

The text comes from PDFium; the gazette's header block and running headers
("Dziennik Ustaw – 2 – Poz. 20"), footnotes and footnote markers are dropped, lines
wrapped by the layout are joined into paragraphs and PDFium's soft hyphens removed.
"""

from __future__ import annotations

import html
import io
import re
import shutil
import sys
import zipfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "pdfs"

COPIED = ("DU_2020_poz5.pdf", "DU_2020_poz14.pdf", "DU_2020_poz16.pdf")
CONVERTED = {
    "DU_2020_poz20.pdf": "rybacy.docx",
    "DU_2020_poz18.pdf": "stawy_arimr.html",
    "DU_2020_poz11.pdf": "owoce_warzywa.txt",
}

RUNNING_HEADER = re.compile(r"^Dziennik Ustaw\s*[–-]\s*\d+\s*[–-]\s*Poz\.\s*\d+$", re.I)
MASTHEAD = re.compile(r"^(DZIENNIK USTAW|RZECZYPOSPOLITEJ POLSKIEJ|Warszawa, dnia .*|Poz\. \d+)$")
ACT_TYPES = ("ROZPORZĄDZENIE", "USTAWA", "OBWIESZCZENIE", "UCHWAŁA", "ZARZĄDZENIE")
# Lines that open a new paragraph: §, Art., "1.", "1)", "a)", quoted amendments.
PARAGRAPH_START = re.compile(
    r"^(?:[„\"]?§\s*\d+[a-z]*\.|[„\"]?Art\.\s*\d+|[„\"]?\d+[a-z]*\.\s|\d+[a-z]*\)\s|[a-z]\)\s"
    r"|Na podstawie\b)"
)
SIGNATURE = re.compile(r"^(?:Prezes Rady Ministrów|Minister [^:]+|Marszałek Sejmu):\s")
FOOTNOTE_MARK_CAPS = re.compile(r"(?<=[A-ZĄĆĘŁŃÓŚŹŻ]{3})\s?\d\)")  # "WSI 1)", "ŚRÓDLĄDOWEJ1)"
FOOTNOTE_MARK_ZM = re.compile(r"(z późn\. zm\.)\s?\d+\)")  # "z późn. zm.1))" -> "z późn. zm.)"


def page_lines(text: str) -> list[str]:
    """Body lines of one page: no running header, no footnotes (below the first blank line)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    body: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if body:  # a blank line after the text separates the footnotes: stop here
                break
            continue
        if RUNNING_HEADER.match(stripped):
            continue
        body.append(stripped)
    return body


def extract(pdf: Path) -> tuple[str, list[str], list[str]]:
    """(masthead, title lines, body paragraphs) of an act."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf))
    try:
        lines: list[str] = []
        for index in range(len(document)):
            lines.extend(page_lines(document[index].get_textpage().get_text_range()))
    finally:
        document.close()

    masthead = [line for line in lines[:6] if MASTHEAD.match(line)]
    lines = lines[len(masthead) :]
    start = next(i for i, line in enumerate(lines) if line.startswith(ACT_TYPES))
    end = next(i for i, line in enumerate(lines) if line.startswith("Na podstawie"))
    title = [_tidy(line) for line in lines[start:end]]
    return _masthead(masthead), title, reflow(lines[end:])


def _masthead(lines: list[str]) -> str:
    """The masthead as one line: Dziennik Ustaw Rzeczypospolitej Polskiej, Warszawa, dnia ..., poz. N."""
    rest = [line for line in lines if not line.isupper()]
    return ", ".join(["Dziennik Ustaw Rzeczypospolitej Polskiej", *rest]).replace("Poz.", "poz.")


def reflow(lines: list[str]) -> list[str]:
    """Join lines wrapped by the layout; a new paragraph starts at a legal unit or item."""
    paragraphs: list[str] = []
    for line in lines:
        if not paragraphs or PARAGRAPH_START.match(line) or SIGNATURE.match(line):
            paragraphs.append(line)
        elif paragraphs[-1].endswith("\ufffe") or re.match(r"^\d+\)\)", line):
            paragraphs[-1] += line  # a soft hyphen or a footnote marker: no space
        else:
            paragraphs[-1] += " " + line
    return [_tidy(p) for p in paragraphs]


def _tidy(text: str) -> str:
    text = text.replace("\ufffe", "").replace("\u00ad", "")
    text = FOOTNOTE_MARK_ZM.sub(r"\1", text)
    text = FOOTNOTE_MARK_CAPS.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def heading_of(title: list[str]) -> tuple[str, str]:
    """("ROZPORZĄDZENIE MINISTRA ...", "z dnia ... w sprawie ...") from the title lines."""
    date = next(i for i, line in enumerate(title) if line.startswith("z dnia"))
    return " ".join(title[:date]), " ".join(title[date:])


def write_docx(target: Path, masthead: str, title: list[str], body: list[str]) -> None:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title, props.author = heading_of(title)[0], "Dziennik Ustaw"
    props.created = props.modified = datetime(2020, 1, 8)
    props.last_modified_by = ""
    document.add_paragraph(masthead)
    first, rest = heading_of(title)
    document.add_heading(first, level=1)
    document.add_paragraph(rest)
    for paragraph in body:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    _write_fixed_zip(buffer.getvalue(), target)


def _write_fixed_zip(data: bytes, target: Path) -> None:
    """Rewrite a ZIP with fixed timestamps, so re-running the script gives the same bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(target, "w") as out:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=(2020, 1, 8, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(fixed, source.read(entry.filename))


def write_html(target: Path, masthead: str, title: list[str], body: list[str]) -> None:
    first, rest = heading_of(title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="pl">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(first.capitalize() + ' ' + rest)}</title>",
        "</head>",
        "<body>",
        f'<p class="masthead">{html.escape(masthead)}</p>',
        f"<h1>{html.escape(first)}</h1>",
        f'<p class="subtitle">{html.escape(rest)}</p>',
        *(f"<p>{html.escape(paragraph, quote=False)}</p>" for paragraph in body),
        "</body>",
        "</html>",
        "",
    ]
    target.write_text("\n".join(parts), encoding="utf-8")


def write_txt(target: Path, masthead: str, title: list[str], body: list[str]) -> None:
    first, rest = heading_of(title)
    target.write_text("\n".join([masthead, "", first, rest, "", *body, ""]), encoding="utf-8")


WRITERS = {".docx": write_docx, ".html": write_html, ".txt": write_txt}


def main(argv: list[str]) -> None:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    if not source.is_dir():
        sys.exit(f"no such folder: {source}")
    for name in COPIED:
        shutil.copyfile(source / name, HERE / name)
        print(f"copied    {name}")
    for pdf, name in CONVERTED.items():
        masthead, title, body = extract(source / pdf)
        target = HERE / name
        WRITERS[target.suffix](target, masthead, title, body)
        print(f"converted {pdf} -> {name} ({len(body)} paragraphs)")


if __name__ == "__main__":
    main(sys.argv)
