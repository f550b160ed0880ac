"""The own evaluation set split by document: a development half and a held-out half.

Written down before any miss was looked at (issue 10, last part). Failure analysis looks at
individual misses of the development half only; of the held-out half only totals are printed,
so a fix that generalises can be told from one fitted to the questions it was made on.

The split is by document, so no passage of a held-out document was ever read while fixing.
Every kind of document is on both sides: acts in PDF (two on each side), man pages, and one
written document per side for each pair of kinds (development: the A5 PDF manual with running
headers and tables over page breaks, and the HTML page with menu/footer boilerplate; held-out:
the DOCX report with tables, and the ODT house rules over soft page breaks).

Run from the repo root:
    python bench/own_split.py write DIR      # DIR/qa_all.jsonl, qa_dev.jsonl, qa_heldout.jsonl
    python bench/own_split.py eval [--misses]   # ingest with the configured embedder, then
                                                # `polrag eval`'s numbers for all/dev/held-out;
                                                # --misses lists development misses only
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVAL = HERE.parent / "tests" / "data" / "eval"

DEVELOPMENT = (
    "DU_2020_poz5.pdf",
    "DU_2020_poz16.pdf",
    "rybacy.docx",
    "man_du.txt",
    "man_chmod.txt",
    "man_free.txt",
    "instrukcja_pompa_ciepla.pdf",
    "odpady_gmina.html",
)
HELD_OUT = (
    "DU_2020_poz14.pdf",
    "stawy_arimr.html",
    "owoce_warzywa.txt",
    "man_df.txt",
    "man_crontab.txt",
    "regulamin_wspolnoty.odt",
    "sprawozdanie_biblioteka.docx",
)
HALVES = {"all": DEVELOPMENT + HELD_OUT, "dev": DEVELOPMENT, "heldout": HELD_OUT}


def lines(half: str) -> list[str]:
    """The qa.jsonl lines of one half, in file order."""
    keep = set(HALVES[half])
    out = [line for line in (EVAL / "qa.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return [line for line in out if json.loads(line)["document"] in keep]
