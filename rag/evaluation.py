"""Retrieval evaluation: recall@1/5/10, MRR@10 and latency over a JSONL question set."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.errors import ConfigError
from rag.types import Hit

CUTOFFS = (1, 5, 10)
SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class QAItem:
    """One question: the document that answers it and, optionally, the answer text."""

    question: str
    document: str
    answer: str | None = None


@dataclass(frozen=True, slots=True)
class Metrics:
    mode: str
    questions: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float
    latency_p50_ms: float
    latency_p95_ms: float

    def to_json(self) -> dict[str, float | int | str]:
        return {
            key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()
        }


def load_qa(path: Path) -> list[QAItem]:
    """Read a JSONL file of ``{"question", "document", "answer"?}``; bad lines name their number."""
    items: list[QAItem] = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            question, document = data["question"], data["document"]
            answer = data.get("answer")
            if not (isinstance(question, str) and question.strip() and isinstance(document, str)):
                raise ValueError("question and document must be non-empty strings")
            if answer is not None and not isinstance(answer, str):
                raise ValueError("answer must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}:{number}: bad line ({exc}); expected "
                '{"question": ..., "document": ..., "answer": ...}'
            ) from None
        items.append(QAItem(question, document, answer or None))
    if not items:
        raise ConfigError(f"{path} holds no questions")
    return items


def is_relevant(hit: Hit, item: QAItem) -> bool:
    """A passage of the right document that contains the answer (case and spacing ignored)."""
    if item.document not in (hit.file_name, hit.document_id):
        return False
    if item.answer is None:
        return True
    return _squash(item.answer) in _squash(hit.text)


def evaluate(
    items: Sequence[QAItem], search: Callable[[str, int], list[Hit]], *, mode: str, k: int = 10
) -> Metrics:
    """Run every question through ``search(question, k)`` and score the rankings."""
    depth = max(k, max(CUTOFFS))
    found_at: list[int | None] = []
    latencies: list[float] = []
    for item in items:
        started = time.perf_counter()
        hits = search(item.question, depth)
        latencies.append((time.perf_counter() - started) * 1000)
        rank = next((i for i, hit in enumerate(hits, start=1) if is_relevant(hit, item)), None)
        found_at.append(rank)
    n = len(items)

    def recall(cutoff: int) -> float:
        return sum(1 for rank in found_at if rank is not None and rank <= cutoff) / n

    mrr = sum(1 / rank for rank in found_at if rank is not None and rank <= 10) / n
    return Metrics(
        mode=mode,
        questions=n,
        recall_at_1=recall(1),
        recall_at_5=recall(5),
        recall_at_10=recall(10),
        mrr_at_10=mrr,
        latency_p50_ms=statistics.median(latencies),
        latency_p95_ms=_percentile(latencies, 95),
    )


def _squash(text: str) -> str:
    return SPACE.sub("", text).casefold()


def _percentile(values: Sequence[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]
