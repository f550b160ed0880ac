"""Build the non-legal evaluation documents: manual pages and four documents written for the set.

Run from anywhere:  python tests/data/eval/make_more_documents.py

* ``sources/*.src`` are documents written for this set in plain Polish (see README.md), in a
  tiny markup: ``#``/``##`` headings, ``- `` list items, ``| a | b |`` table rows (the first row
  is the header), ``@pagebreak``, anything else a paragraph; blocks are separated by blank lines.
  Each becomes the format a user would really have it in:

  - sprawozdanie_biblioteka.src  -> sprawozdanie_biblioteka.docx  (report with tables, python-docx)
  - regulamin_wspolnoty.src      -> regulamin_wspolnoty.odt       (ZIP + XML, soft page breaks)
  - odpady_gmina.src             -> odpady_gmina.html             (a municipal web page with
                                    navigation, cookie banner and footer around the article)
  - instrukcja_pompa_ciepla.src  -> instrukcja_pompa_ciepla.pdf   (A5 manual, about 14 pages, with
                                    running header and footer; fpdf2 and DejaVu Sans)

* ``man_*.txt`` are Polish manual pages from Debian's ``manpages-pl`` 1:4.18.1-1 (GPL-3+),
  rendered as ``man`` shows them at 80 columns (``col -bx``). Skipped with a note when the
  package is not installed; the committed files stay as they are.

Every run gives the same bytes (fixed dates inside DOCX, ODT and PDF).
"""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
import warnings
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
MAN_PAGES = ("du", "df", "chmod", "crontab", "free")
FIXED = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class Block:
    kind: str  # title, heading, paragraph, list, table, pagebreak
    lines: tuple[str, ...]


def parse(path: Path) -> list[Block]:
    blocks: list[Block] = []
    for raw in re.split(r"\n\s*\n", path.read_text("utf-8").strip()):
        lines = tuple(line.strip() for line in raw.strip().splitlines())
        first = lines[0]
        if first == "@pagebreak":
            blocks.append(Block("pagebreak", ()))
        elif first.startswith("## "):
            blocks.append(Block("heading", (first[3:],)))
        elif first.startswith("# "):
            blocks.append(Block("title", (first[2:],)))
        elif first.startswith("- "):
            blocks.append(Block("list", tuple(line[2:] for line in lines)))
        elif first.startswith("|"):
            blocks.append(Block("table", lines))
        elif re.match(r"\d+\. ", first):
            blocks.extend(Block("paragraph", (line,)) for line in lines)  # numbered provisions
        else:
            blocks.append(Block("paragraph", (" ".join(lines),)))
    return blocks


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


# -- DOCX ------------------------------------------------------------------------------------


def write_docx(blocks: list[Block], target: Path) -> None:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title, props.author, props.last_modified_by = blocks[0].lines[0], "Marta Kowalczyk", ""
    props.created = props.modified = FIXED.replace(tzinfo=None)
    for block in blocks:
        if block.kind == "title":
            document.add_heading(block.lines[0], level=1)
        elif block.kind == "heading":
            document.add_heading(block.lines[0], level=2)
        elif block.kind == "paragraph":
            document.add_paragraph(block.lines[0])
        elif block.kind == "list":
            for item in block.lines:
                document.add_paragraph(item, style="List Bullet")
        elif block.kind == "table":
            rows = [cells(row) for row in block.lines]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
        elif block.kind == "pagebreak":
            document.add_page_break()
    buffer = io.BytesIO()
    document.save(buffer)
    write_fixed_zip(buffer.getvalue(), target)


def write_fixed_zip(data: bytes, target: Path) -> None:
    """Rewrite a ZIP with fixed timestamps (the mimetype entry of an ODT stays first, stored)."""
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(target, "w") as out:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=FIXED.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_STORED if entry.filename == "mimetype" else zipfile.ZIP_DEFLATED
            out.writestr(fixed, source.read(entry.filename))


# -- ODT -------------------------------------------------------------------------------------

ODT_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.3"'
)
ODT_MIME = "application/vnd.oasis.opendocument.text"


def write_odt(blocks: list[Block], target: Path) -> None:
    esc = html.escape
    body: list[str] = []
    for block in blocks:
        if block.kind == "title":
            body.append(f'<text:h text:outline-level="1">{esc(block.lines[0])}</text:h>')
        elif block.kind == "heading":
            body.append(f'<text:h text:outline-level="2">{esc(block.lines[0])}</text:h>')
        elif block.kind == "paragraph":
            body.append(f"<text:p>{esc(block.lines[0])}</text:p>")
        elif block.kind == "list":
            items = "".join(
                f"<text:list-item><text:p>{esc(item)}</text:p></text:list-item>" for item in block.lines
            )
            body.append(f"<text:list>{items}</text:list>")
        elif block.kind == "table":
            rows = [cells(row) for row in block.lines]
            xml_rows = "".join(
                "<table:table-row>"
                + "".join(f"<table:table-cell><text:p>{esc(c)}</text:p></table:table-cell>" for c in row)
                + "</table:table-row>"
                for row in rows
            )
            columns = f'<table:table-column table:number-columns-repeated="{len(rows[0])}"/>'
            body.append(f'<table:table table:name="Tabela{len(body)}">{columns}{xml_rows}</table:table>')
        elif block.kind == "pagebreak":
            body.append("<text:soft-page-break/>")  # as LibreOffice records its page layout
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {ODT_NS}>'
        f"<office:body><office:text>{''.join(body)}</office:text></office:body></office:document-content>"
    )
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-meta {ODT_NS}><office:meta>'
        f"<dc:title>{esc(blocks[0].lines[0])}</dc:title><dc:language>pl-PL</dc:language>"
        f"<meta:creation-date>{FIXED:%Y-%m-%dT%H:%M:%S}</meta:creation-date></office:meta>"
        "</office:document-meta>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{ODT_MIME}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", ODT_MIME)
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("meta.xml", meta)
        archive.writestr("content.xml", content)
    write_fixed_zip(buffer.getvalue(), target)


# -- HTML ------------------------------------------------------------------------------------

HTML_HEAD = """<!DOCTYPE html>
<html lang="pl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – Urząd Gminy Zielonki</title>
<link rel="stylesheet" href="/static/css/main.css">
<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}</script>
</head>
<body>
<a class="skip-link" href="#tresc">Przejdź do treści</a>
<div class="cookie-banner" role="dialog">Ta strona używa plików cookies w celach statystycznych.
Korzystając ze strony, zgadzasz się na ich użycie. <a href="/polityka-prywatnosci">Polityka prywatności</a>
<button>Akceptuję</button></div>
<header>
<div class="logo">Urząd Gminy Zielonki</div>
<div class="tools"><a href="/wcag">Wersja kontrastowa</a> <a href="/en">English</a> <a href="/bip">BIP</a>
<form role="search"><input type="search" placeholder="Szukaj w serwisie"><button>Szukaj</button></form></div>
<nav aria-label="Menu główne"><ul>
<li><a href="/">Strona główna</a></li><li><a href="/aktualnosci">Aktualności</a></li>
<li><a href="/urzad">Urząd</a></li><li><a href="/sprawy">Załatw sprawę</a></li>
<li><a href="/odpady">Odpady</a></li><li><a href="/inwestycje">Inwestycje</a></li>
<li><a href="/turystyka">Turystyka</a></li><li><a href="/kontakt">Kontakt</a></li></ul></nav>
</header>
<nav class="breadcrumbs" aria-label="Okruszki"><a href="/">Strona główna</a> › <a href="/odpady">Odpady</a> ›
{title}</nav>
<main id="tresc"><article>
"""
HTML_FOOT = """<p class="meta">Opublikowano: 28.12.2023, 14:05. Autor: Referat Gospodarki Komunalnej.
Liczba wyświetleń: 4 312.</p>
<div class="share">Udostępnij: <a href="#">Facebook</a> <a href="#">X</a> <a href="#">E-mail</a>
<a href="#" onclick="window.print()">Drukuj</a></div>
</article>
<aside><h2>Zobacz też</h2><ul>
<li><a href="/odpady/deklaracja">Deklaracja o wysokości opłaty – formularz</a></li>
<li><a href="/odpady/azbest">Dofinansowanie usuwania azbestu</a></li>
<li><a href="/aktualnosci">Wszystkie aktualności</a></li></ul></aside>
</main>
<footer>
<div class="kontakt"><h2>Urząd Gminy Zielonki</h2><p>ul. Krakowska 65, 32-087 Zielonki</p>
<p>tel. 12 285 08 50, e-mail: sekretariat@zielonki.example.pl</p>
<p>Godziny pracy urzędu: poniedziałek 8:00–17:00, wtorek–czwartek 7:30–15:30, piątek 7:30–14:00</p></div>
<ul><li><a href="/deklaracja-dostepnosci">Deklaracja dostępności</a></li><li><a href="/rodo">RODO</a></li>
<li><a href="/mapa-strony">Mapa strony</a></li>
<li><a href="/polityka-prywatnosci">Polityka prywatności</a></li></ul>
<p>© 2024 Urząd Gminy Zielonki. Wszelkie prawa zastrzeżone. Projekt i wykonanie: WebStudio.</p>
</footer>
</body>
</html>
"""


def write_html(blocks: list[Block], target: Path) -> None:
    esc = html.escape
    parts = [HTML_HEAD.format(title=esc(blocks[0].lines[0]))]
    for block in blocks:
        if block.kind == "title":
            parts.append(f"<h1>{esc(block.lines[0])}</h1>")
        elif block.kind == "heading":
            parts.append(f"<h2>{esc(block.lines[0])}</h2>")
        elif block.kind == "paragraph":
            parts.append(f"<p>{esc(block.lines[0])}</p>")
        elif block.kind == "list":
            parts.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in block.lines) + "</ul>")
        elif block.kind == "table":
            rows = [cells(row) for row in block.lines]
            head = "".join(f"<th>{esc(c)}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append(HTML_FOOT)
    target.write_text("\n".join(parts), "utf-8")


# -- PDF -------------------------------------------------------------------------------------


def write_pdf(blocks: list[Block], target: Path) -> None:
    from fpdf import FPDF

    title = blocks[0].lines[0]

    class Manual(FPDF):
        def header(self) -> None:
            if self.page_no() > 1:
                self.set_font("DejaVu", "", 7)
                running = "AquaTerm Split 8 – instrukcja obsługi i instalacji"
                self.cell(0, 5, running, align="R", new_x="LMARGIN", new_y="NEXT")
                self.ln(8)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("DejaVu", "", 7)
            self.cell(0, 5, f"Strona {self.page_no()} z {{nb}}", align="C")

    warnings.filterwarnings("ignore", message="Dimensions for page format A5")
    pdf = Manual(format="A5")
    pdf.set_creation_date(FIXED)
    pdf.set_producer("fpdf2")
    pdf.set_title(title)
    pdf.set_lang("pl")
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(16, 14, 16)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    for block in blocks:
        if block.kind == "title":
            pdf.set_font("DejaVu", "B", 15)
            pdf.ln(30)
            pdf.multi_cell(0, 8, block.lines[0], align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(6)
        elif block.kind == "heading":
            if pdf.get_y() > pdf.h - 45:  # keep a heading with the text under it
                pdf.add_page()
            pdf.set_font("DejaVu", "B", 11)
            pdf.ln(3)
            pdf.multi_cell(0, 6, block.lines[0], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif block.kind == "paragraph":
            pdf.set_font("DejaVu", "", 9.5)
            pdf.multi_cell(0, 5, block.lines[0], align="J", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif block.kind == "list":
            pdf.set_font("DejaVu", "", 9.5)
            for item in block.lines:
                pdf.multi_cell(0, 5, f"•  {item}", align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif block.kind == "table":
            pdf.set_font("DejaVu", "", 8)
            with pdf.table(line_height=4.5, text_align="LEFT") as table:
                for row in block.lines:
                    out = table.row()
                    for value in cells(row):
                        out.cell(value)
            pdf.ln(3)
        elif block.kind == "pagebreak":
            pdf.add_page()
    target.write_bytes(bytes(pdf.output()))


# -- manual pages ----------------------------------------------------------------------------


def render_man_pages() -> None:
    env = {**os.environ, "MANWIDTH": "80", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    for name in MAN_PAGES:
        source = Path(f"/usr/share/man/pl/man1/{name}.1.gz")
        if not source.exists():
            print(f"skipped man_{name}.txt: {source} missing (apt-get install manpages-pl)", file=sys.stderr)
            continue
        shown = subprocess.run(
            ["man", "-P", "cat", str(source)], env=env, capture_output=True, check=True
        ).stdout
        text = subprocess.run(["col", "-bx"], input=shown, capture_output=True, check=True).stdout
        (HERE / f"man_{name}.txt").write_bytes(text)


WRITERS = {
    "sprawozdanie_biblioteka.docx": write_docx,
    "regulamin_wspolnoty.odt": write_odt,
    "odpady_gmina.html": write_html,
    "instrukcja_pompa_ciepla.pdf": write_pdf,
}


def main() -> None:
    for name, writer in WRITERS.items():
        writer(parse(SOURCES / f"{Path(name).stem}.src"), HERE / name)
        print(f"wrote {name}")
    render_man_pages()


if __name__ == "__main__":
    main()
