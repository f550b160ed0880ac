"""Retrieval quality on our own Polish evaluation set (tests/data/eval).

Fifteen documents of six kinds in five formats (official acts, Debian's Polish manual pages,
a DOCX report with tables, ODT house rules, a municipal web page with its navigation and
footer, an A5 PDF manual) and 152 questions written the way people ask them. The documents
are ingested once per module with the offline all-MiniLM-L6-v2 embedder (English, so dense
retrieval is weak on Polish; lemmatised BM25 carries the set).

The fusion polrag gives such embedders (convex: alpha 0.05, theoretical min-max, 100 candidates)
was chosen on PoQuAD; the RRF constants before it had been chosen on the first 42 questions (the
acts), so the floors are measured on the 110 questions added afterwards, which no constant has
seen ("unseen" below); they sit just under what was measured (see tests/data/eval/README.md): a
drop below them means retrieval got worse.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

EVAL = Path(__file__).parent / "data" / "eval"
QA = EVAL / "qa.jsonl"
DOCUMENT_SUFFIXES = frozenset({".pdf", ".docx", ".odt", ".html", ".txt"})
MODES = ("dense", "lexical", "hybrid")
WHERE = frozenset({"text", "table", "list", "heading", "page-break"})

# Measured on the 110 unseen questions (one question = 0.009) with the English MiniLM embedder,
# so the fusion uses what polrag gives embedders it does not know to read Polish (convex, alpha
# 0.05, theoretical min-max, 100 candidates; chosen on PoQuAD): hybrid R@5 0.800, R@10 0.855;
# lexical R@5 0.800; dense R@5 0.300 (RRF with dense weight 0.25, k 10, 50 candidates, before:
# hybrid 0.773, 0.855). Floors are the measurement rounded down to 0.05, one step lower where it
# sits on a step; the lexical floor is older (lexical R@5 was 0.700 then).
HYBRID_R5_MIN = 0.75
HYBRID_R10_MIN = 0.85
LEXICAL_R5_MIN = 0.65
DENSE_R5_MIN = 0.25  # English MiniLM on Polish: a floor that only catches a broken pipeline
LEXICAL_OVER_DENSE_MIN = 0.35  # measured gap 0.42


def squash(text: str) -> str:
    """The hit rule's comparison form: no whitespace, case folded (rag.evaluation.is_relevant)."""
    return re.sub(r"\s+", "", text).casefold()


def eval_documents() -> list[Path]:
    """The documents only: the folder also holds the generator script, README and questions."""
    return sorted(p for p in EVAL.iterdir() if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)


@pytest.fixture(scope="module")
def eval_library(tmp_path_factory: pytest.TempPathFactory, minilm_path: str, embedder):  # type: ignore[no-untyped-def]
    from ingest.pipeline import ingest_paths
    from rag.library import Library
    from rag.settings import load_settings

    settings = load_settings(
        index_dir=tmp_path_factory.mktemp("eval-index"),
        embedding_model=minilm_path,
        device="cpu",
        collection="eval",
        rerank="off",  # the cross-encoder is not available offline; measure retrieval alone
    )
    library = Library(settings, embedder=embedder)
    report = ingest_paths(library, eval_documents(), workers=0)
    assert not report.failed, report.failed
    assert len(report.added) == len(eval_documents())
    yield library
    library.close()


@pytest.fixture(scope="module")
def items():  # type: ignore[no-untyped-def]
    from rag.evaluation import load_qa

    return load_qa(QA)


@pytest.fixture(scope="module")
def unseen(items):  # type: ignore[no-untyped-def]
    """The questions added after the fusion constants were chosen (they carry a "where")."""
    wheres = [json.loads(line).get("where") for line in QA.read_text("utf-8").splitlines()]
    return [item for item, where in zip(items, wheres, strict=True) if where is not None]


class MemoQueries:
    """The embedder, each question encoded once: dense and hybrid ask for the same vector."""

    def __init__(self, embedder) -> None:  # type: ignore[no-untyped-def]
        self._embedder = embedder
        self._vectors: dict[str, object] = {}

    def encode_queries(self, texts):  # type: ignore[no-untyped-def]
        if len(texts) != 1:
            return self._embedder.encode_queries(texts)
        if texts[0] not in self._vectors:
            self._vectors[texts[0]] = self._embedder.encode_queries(texts)
        return self._vectors[texts[0]]

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._embedder, name)


@pytest.fixture(scope="module")
def metrics(eval_library, unseen):  # type: ignore[no-untyped-def]
    from rag.evaluation import evaluate

    collection = eval_library.collection()
    retriever = eval_library.retriever
    retriever.embedder = MemoQueries(retriever.embedder)  # keeps the test fast on 2 CPUs
    return {
        mode: evaluate(
            unseen,
            lambda question, depth, mode=mode: retriever.retrieve(question, collection, k=depth, mode=mode),
            mode=mode,
        )
        for mode in MODES
    }


# -- the set itself --------------------------------------------------------------------


def test_set_has_enough_questions_documents_and_formats(items, unseen) -> None:  # type: ignore[no-untyped-def]
    files = {path.name for path in eval_documents()}
    per_document = Counter(item.document for item in items)
    assert len(items) >= 150
    assert len(unseen) >= 80
    assert set(per_document) == files, "every document has questions, every question a document"
    assert len(files) >= 15
    assert {Path(name).suffix.lower() for name in files} == DOCUMENT_SUFFIXES
    assert min(per_document.values()) >= 5, per_document
    assert len({item.question for item in items}) == len(items), "duplicate questions"
    wheres = Counter(json.loads(line).get("where") for line in QA.read_text("utf-8").splitlines())
    # answers in a table, a list item, a heading and across a page break, not only in running text
    assert wheres["table"] >= 10 and wheres["list"] >= 10, wheres
    assert wheres["heading"] >= 5 and wheres["page-break"] >= 3, wheres


def test_every_line_is_a_short_answer_span_in_its_passage() -> None:
    for number, line in enumerate(QA.read_text("utf-8").splitlines(), start=1):
        data = json.loads(line)
        assert (
            {"question", "document", "answer", "passage"}
            <= set(data)
            <= {"question", "document", "answer", "passage", "where"}
        ), number
        assert data.get("where", "text") in WHERE, number
        assert 2 <= len(data["answer"].split()) <= 8, f"line {number}: answer should be 2-8 words"
        assert squash(data["answer"]) in squash(data["passage"]), f"line {number}: answer not in passage"


def test_every_passage_is_in_its_document() -> None:
    """The recorded source passage is the document's text as polrag reads it (loader + cleaning)."""
    from ingest.chunking import join_pages
    from ingest.clean import clean_pages
    from ingest.loaders import load_file

    texts = {}
    for path in eval_documents():
        parsed = load_file(path, max_bytes=50 * 2**20)
        pages = clean_pages(parsed.pages, reflow=parsed.media_type == "application/pdf")
        texts[path.name] = squash(join_pages(pages)[0])
    lines = [json.loads(line) for line in QA.read_text("utf-8").splitlines()]
    missing = [
        (d["document"], d["passage"][:60]) for d in lines if squash(d["passage"]) not in texts[d["document"]]
    ]
    assert not missing, missing


def test_pages_of_the_paged_documents_are_numbered() -> None:
    """The PDF manual and the ODT rules keep their page numbers: citations point at a page."""
    from ingest.loaders import load_file

    for name, pages in (("instrukcja_pompa_ciepla.pdf", 9), ("regulamin_wspolnoty.odt", 3)):
        parsed = load_file(EVAL / name, max_bytes=50 * 2**20)
        assert [page.number for page in parsed.pages] == list(range(1, pages + 1)), name


def test_every_answer_occurs_in_a_chunk_of_its_document(eval_library, items) -> None:  # type: ignore[no-untyped-def]
    """Guards the set: an answer no chunk holds could never be found (cleaning, chunking)."""
    from rag.evaluation import is_relevant

    collection = eval_library.collection()
    chunks = {doc.file_name: collection.catalog.chunks_of(doc.id) for doc in collection.documents()}
    missing = [
        (item.document, item.answer)
        for item in items
        if not any(is_relevant(chunk, item) for chunk in chunks[item.document])
    ]
    assert not missing, missing


# -- retrieval quality -----------------------------------------------------------------


def test_hybrid_recall(metrics) -> None:  # type: ignore[no-untyped-def]
    hybrid = metrics["hybrid"]
    assert hybrid.recall_at_5 >= HYBRID_R5_MIN, hybrid
    assert hybrid.recall_at_10 >= HYBRID_R10_MIN, hybrid


def test_lexical_recall_is_well_above_dense(metrics) -> None:  # type: ignore[no-untyped-def]
    lexical, dense = metrics["lexical"], metrics["dense"]
    assert lexical.recall_at_5 >= LEXICAL_R5_MIN, lexical
    assert dense.recall_at_5 >= DENSE_R5_MIN, dense
    assert lexical.recall_at_5 >= dense.recall_at_5 + LEXICAL_OVER_DENSE_MIN, (lexical, dense)


def test_hybrid_is_not_worse_than_dense(metrics) -> None:  # type: ignore[no-untyped-def]
    assert metrics["hybrid"].recall_at_5 >= metrics["dense"].recall_at_5
    assert metrics["hybrid"].mrr_at_10 >= metrics["dense"].mrr_at_10


def test_hybrid_keeps_up_with_lexical(metrics) -> None:  # type: ignore[no-untyped-def]
    assert metrics["hybrid"].recall_at_5 >= metrics["lexical"].recall_at_5 - 0.05


# Measured with bench/relevance_floor.py at the default floor 0.4, which was chosen on the 42 act
# questions: 40 of them reach the model, but only 87 of the 110 unseen ones (0.79: paraphrases
# such as "elektrośmieci", "kubły" share few words with the passage); 28 of 30 off-topic
# questions get the fixed answer (these ten among them).
OFF_TOPIC = [
    "Jaka jest stolica Australii?",
    "Kto wygrał mundial w 1974 roku?",
    "Jak upiec sernik z rodzynkami?",
    "Kiedy urodził się Fryderyk Chopin?",
    "Kto jest autorem Pana Tadeusza?",
    "Gdzie leży Morskie Oko?",
    "Ile kalorii ma banan?",
    "Jak działa silnik elektryczny?",
    "Kto był pierwszym królem Polski?",
    "Jak długo gotować jajko na twardo?",
]


def test_relevance_floor_lets_real_questions_through_and_stops_off_topic(eval_library, items, unseen) -> None:  # type: ignore[no-untyped-def]
    from rag.answering import Answerer

    class NoModel:
        model_name = "none"
        context_tokens = 32768

        def count_tokens(self, messages) -> int:  # type: ignore[no-untyped-def]
            return sum(len(m["content"]) // 3 for m in messages)

    answerer = Answerer(eval_library, NoModel())  # type: ignore[arg-type]
    reached = [answerer.prepare(item.question).prompt is not None for item in unseen]
    assert sum(reached) / len(unseen) >= 0.75
    # The 42 act questions the floor was chosen on keep their old bar, as a regression guard.
    acts = [item for item in items if item not in unseen]
    assert len(acts) == 42
    reached_acts = [answerer.prepare(item.question).prompt is not None for item in acts]
    assert sum(reached_acts) / len(acts) >= 0.9
    refused = [answerer.prepare(question).prompt is None for question in OFF_TOPIC]
    assert sum(refused) >= 9
