"""How often a passage is found on its page for the highlight: real acts' text layers, and scans.

Every act in ``../shared/data/pdfs`` is loaded, cleaned and chunked the ingest's way (token counts
estimated: chunk sizes only move the boundaries); for each chunk and each page it lies on, the part
of it on that page is looked up among the page's own characters (text layer) or OCR'd words
(``--scanned``: the act's pages rendered at 300 dpi into an image-only PDF and read by polrag's
OCR) with rag.passage_boxes, and counted as found whole, found by its first and last letters only
(the highlight then covers what lies between them), or not found. Also printed: line boxes per
chunk-page and the time per lookup.

Run from the repo root:  python bench/highlights.py [--acts DU_2020_poz5 ...] [--scanned]
(``--scanned`` reads only the acts named, default the two shortest the OCR bench reads.)
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

DATA = REPO.parent / "shared" / "data" / "pdfs"
SCANNED_ACTS = ["DU_2020_poz5", "DU_2020_poz14"]


def scanned_copy(path: Path, folder: Path) -> Path:
    """The act as an image-only PDF at 300 dpi."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    images = [pdf[i].render(scale=300 / 72, grayscale=True).to_pil() for i in range(len(pdf))]
    pdf.close()
    out = io.BytesIO()
    images[0].save(out, format="PDF", resolution=300, save_all=True, append_images=images[1:])
    target = folder / path.name
    target.write_bytes(out.getvalue())
    return target


def main() -> None:
    import pypdfium2 as pdfium

    from ingest.chunking import ChunkingParams
    from ingest.ocr import OcrOptions
    from ingest.prepare import PreparedDocument, prepare_file
    from rag.passage_boxes import letters, ocr_boxes, text_layer_boxes
    from rag.token_estimate import EstimatedTokenCounter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acts", nargs="*", help="act names (default: all in the folder)")
    parser.add_argument("--folder", type=Path, default=DATA, help="where the acts are (../shared/data/pdfs)")
    parser.add_argument("--scanned", action="store_true", help="look passages up in OCR'd scans")
    args = parser.parse_args()
    paths = sorted(args.folder.glob("*.pdf"))
    wanted = args.acts or (SCANNED_ACTS if args.scanned else None)
    if wanted:
        paths = [p for p in paths if p.stem in wanted]
    params = ChunkingParams(365, 48, 512)
    counts = {"whole": 0, "ends": 0, "missed": 0}
    lines: list[int] = []
    times: list[float] = []
    misses: list[str] = []
    scratch = tempfile.TemporaryDirectory()
    for path in paths:
        source = scanned_copy(path, Path(scratch.name)) if args.scanned else path
        ocr = OcrOptions(dpi=300, threads=1)
        prepared = prepare_file(source, path.name, EstimatedTokenCounter(3.5), params, 2**30, ocr=ocr)
        assert isinstance(prepared, PreparedDocument), prepared
        pages = {page.number: page for page in prepared.document.pages}
        pdf = pdfium.PdfDocument(path)
        for chunk in prepared.chunks:
            for number in range(chunk.first_page or 1, (chunk.last_page or 1) + 1):
                page = pages[number]
                text = page.text.strip()
                begin = max(chunk.char_start, page.offset) - page.offset
                end = min(chunk.char_end, page.offset + len(text)) - page.offset
                needle = letters(text[begin:end])[0]
                if len(needle) < 3:
                    continue
                boxes: list[Any]
                if args.scanned:
                    started = time.perf_counter()
                    boxes = ocr_boxes(page.words, text[begin:end])
                    times.append(time.perf_counter() - started)
                    haystack = letters(" ".join(word.text for word in page.words))[0]
                else:
                    pdf_page = pdf[number - 1]
                    textpage = pdf_page.get_textpage()
                    started = time.perf_counter()
                    crop, turn = pdf_page.get_cropbox(), pdf_page.get_rotation()
                    boxes = text_layer_boxes(textpage, text[begin:end], crop, turn)
                    times.append(time.perf_counter() - started)
                    haystack = letters(textpage.get_text_range())[0]
                if not boxes:
                    counts["missed"] += 1
                    misses.append(f"{path.stem} p.{number} chunk {chunk.ordinal}: {text[begin:end][:80]!r}")
                else:
                    counts["whole" if haystack.find(needle) >= 0 else "ends"] += 1
                lines.append(len(boxes))
        pdf.close()
    total = sum(counts.values())
    kind = "OCR'd scans" if args.scanned else "text layers"
    print(f"{len(paths)} acts ({kind}), {total} chunk-pages")
    print(
        f"found whole {counts['whole']} ({counts['whole'] / total:.1%}), by first/last letters "
        f"{counts['ends']} ({counts['ends'] / total:.1%}), not found {counts['missed']} "
        f"({counts['missed'] / total:.1%})"
    )
    print(f"line boxes per chunk-page: median {statistics.median(lines):.0f}, max {max(lines)}")
    print(f"lookup: median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    for miss in misses[:10]:
        print("  not found:", miss)


if __name__ == "__main__":
    main()
