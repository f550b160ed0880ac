"""Questions in, grounded answers out: retrieve, check relevance, prompt, generate, cite."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TypedDict, Unpack

from rag.analysis import PolishAnalyzer, fold
from rag.citations import check_citations
from rag.errors import InvalidInput
from rag.generation import GenerationParams, Generator, TextStream
from rag.library import Library
from rag.prompt import NO_ANSWER, FittedPrompt, Message, fit_prompt, retrieval_query
from rag.types import Answer, Hit, Usage

WORD = re.compile(r"\w+", re.UNICODE)
# Verbs and words every kind of question uses ("ile wynosi", "co mówi", "kto musi"): they say
# nothing about the subject, so they do not count for relevance (lemmas and folded forms).
QUESTION_FILLERS = frozenset(
    "mieć miec musieć musiec móc zostać zostac być byc mówić mowic można mozna trzeba "
    "wynosić wynosic dotyczyć dotyczyc ds".split()
)


@dataclass(frozen=True, slots=True)
class PassagesEvent:
    """First event of a streamed answer: the passages the model will read."""

    passages: tuple[Hit, ...]


@dataclass(frozen=True, slots=True)
class TokenEvent:
    text: str


@dataclass(frozen=True, slots=True)
class DoneEvent:
    """Last event: the whole answer with its validated citations."""

    answer: Answer


AnswerEvent = PassagesEvent | TokenEvent | DoneEvent


class AskOptions(TypedDict, total=False):
    history: Sequence[Message]
    collection: str | None
    k: int | None
    document_ids: Sequence[str] | None


@dataclass(frozen=True, slots=True)
class PreparedQuestion:
    """Everything decided before the model runs; ``prompt`` is None when nothing was relevant."""

    question: str
    prompt: FittedPrompt | None
    candidates: tuple[Hit, ...]


class Answerer:
    """Answers questions about a library's collections with one generator."""

    def __init__(
        self,
        library: Library,
        generator: Generator,
        *,
        params: GenerationParams | None = None,
        relevance_floor: float | None = None,
    ) -> None:
        settings = library.settings
        self.library = library
        self.generator = generator
        self.analyzer: PolishAnalyzer = library.retriever.analyzer
        self.params = params or GenerationParams(
            max_new_tokens=settings.llm_max_new_tokens, temperature=settings.llm_temperature
        )
        self.relevance_floor = settings.relevance_floor if relevance_floor is None else relevance_floor

    def prepare(
        self,
        question: str,
        *,
        history: Sequence[Message] = (),
        collection: str | None = None,
        k: int | None = None,
        document_ids: Sequence[str] | None = None,
    ) -> PreparedQuestion:
        """Retrieve for the conversation, keep relevant passages, fit the prompt to the context."""
        question = question.strip()
        if not question:
            raise InvalidInput("the question is empty")
        _check_history(history)
        query = retrieval_query(question, history)
        hits = self.library.search(query, collection=collection, k=k, document_ids=document_ids)
        words = _content_words(self.analyzer, query)  # once, not once per passage
        if not any(self._coverage(words, hit) >= self.relevance_floor for hit in hits):
            return PreparedQuestion(question, None, tuple(hits))
        prompt = fit_prompt(
            question,
            hits,  # ranked order kept; relevance only decides whether to ask at all
            history,
            count_tokens=self.generator.count_tokens,
            context_tokens=self.generator.context_tokens,
            max_new_tokens=self.params.max_new_tokens,
        )
        return PreparedQuestion(question, prompt, tuple(hits))

    def ask(self, question: str, **options: Unpack[AskOptions]) -> Answer:
        """The whole answer at once (options as for :meth:`prepare`)."""
        return self.complete(self.prepare(question, **options))

    def complete(self, prepared: PreparedQuestion, *, params: GenerationParams | None = None) -> Answer:
        """The whole answer to a prepared question, asked without streaming."""
        *_, done = self.answer_events(prepared, stream=False, params=params)
        assert isinstance(done, DoneEvent)  # the events always end with it
        return done.answer

    def ask_stream(self, question: str, **options: Unpack[AskOptions]) -> Iterator[AnswerEvent]:
        """Passages first, then the answer's text as it is written, then the checked answer.

        Retrieval runs before this returns, so a bad question fails here, not mid-stream.
        """
        return self.answer_events(self.prepare(question, **options), stream=True)

    def answer_events(
        self, prepared: PreparedQuestion, *, stream: bool = True, params: GenerationParams | None = None
    ) -> Iterator[AnswerEvent]:
        """Generate the answer to a prepared question, as events (``params`` overrides the defaults)."""
        if prepared.prompt is None:
            yield PassagesEvent(())
            yield TokenEvent(NO_ANSWER)
            yield DoneEvent(Answer(NO_ANSWER, (), (), self.generator.model_name, grounded=False))
            return
        prompt = prepared.prompt
        yield PassagesEvent(prompt.passages)
        text: TextStream = self.generator.stream(
            prompt.messages, replace(params or self.params, stream=stream)
        )
        pieces: list[str] = []
        try:
            for piece in text:
                pieces.append(piece)
                yield TokenEvent(piece)
        finally:
            text.close()  # a reader that stops early (client gone) stops the model
        yield DoneEvent(self.finish("".join(pieces), prompt, text.usage, text.finish_reason))

    def finish(self, text: str, prompt: FittedPrompt, usage: Usage, finish_reason: str = "stop") -> Answer:
        """The answer with its citations checked against the passages in ``prompt``."""
        text = text.strip()
        usage = usage if usage.prompt_tokens else Usage(prompt.prompt_tokens, usage.completion_tokens)
        model = self.generator.model_name
        if text.startswith(NO_ANSWER.rstrip(".")):
            return Answer(text, (), prompt.passages, model, usage, finish_reason=finish_reason)
        check = check_citations(text, prompt.passages, self.analyzer)
        return Answer(
            text, check.citations, prompt.passages, model, usage, check.dropped, finish_reason=finish_reason
        )

    def relevance(self, question: str, hit: Hit, history: Sequence[Message] = ()) -> float:
        """Share of the question's content words (lemmas) the passage contains, 0..1.

        A follow-up's own words are often few ("a kto go zatwierdza?"), so the words of the
        earlier user turns count too.
        """
        return self._coverage(_content_words(self.analyzer, retrieval_query(question, history)), hit)

    def _coverage(self, words: list[set[str]], hit: Hit) -> float:
        if not words:
            return 1.0  # nothing to check ("?"): let retrieval's ranking stand
        passage = set(self.analyzer.analyse(f"{hit.heading} {hit.text}"))
        return sum(1 for variants in words if variants & passage) / len(words)


def _content_words(analyzer: PolishAnalyzer, text: str) -> list[set[str]]:
    """Each content word of ``text`` as its set of terms (lemmas, folded forms); stopwords dropped."""
    restore = fold(text) == text  # typed without Polish letters: put them back
    groups = [set(analyzer.analyse(word, restore=restore)) for word in WORD.findall(text)]
    groups.extend({unit} for unit in analyzer.unit_terms(text))
    return [group for group in groups if group and not group & QUESTION_FILLERS]


def _check_history(history: Sequence[Message]) -> None:
    for turn in history:
        if turn.get("role") not in ("user", "assistant") or not isinstance(turn.get("content"), str):
            raise InvalidInput("history turns must be {'role': 'user'|'assistant', 'content': str}")
