"""Packing sentences into chunks bounded in tokens of the embedding model."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.legal import HeadingTracker, starts_block, starts_unit
from ingest.sections import heading_at
from ingest.sentences import split_sentences
from rag.embedder import TokenCounter  # what chunking needs of a tokenizer
from rag.types import Chunk, Page


@dataclass(frozen=True, slots=True)
class ChunkingParams:
    """Chunk size and overlap in tokens; ``max_tokens`` is the model's hard limit."""

    chunk_tokens: int
    overlap_tokens: int
    max_tokens: int

    def __post_init__(self) -> None:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError("overlap_tokens must be less than chunk_tokens.")
        if self.max_tokens < 8:
            raise ValueError("max_tokens must be at least 8.")

    @property
    def budget(self) -> int:
        return min(self.chunk_tokens, self.max_tokens)

    @property
    def overlap(self) -> int:
        return min(self.overlap_tokens, self.budget // 2)


@dataclass(slots=True)
class _Unit:
    start: int
    end: int
    tokens: int
    opens_unit: bool
    heading: str


def join_pages(pages: Sequence[Page]) -> tuple[str, list[int]]:
    """The document's text and each page's start offset in it.

    A sentence running over a page break is joined with a space, so it stays one sentence.
    """
    parts: list[str] = []
    starts: list[int] = []
    length = 0
    for page in pages:
        text = page.text.strip()
        if parts:
            follows_sentence = parts[-1][-1:] in ".!?:;" or not text or starts_block(text)
            separator = "\n" if follows_sentence else " "
            parts.append(separator)
            length += 1
        starts.append(length)
        parts.append(text)
        length += len(text)
    return "".join(parts), starts


def chunk_document(
    pages: Sequence[Page],
    counter: TokenCounter,
    params: ChunkingParams,
    *,
    document_id: str,
    file_name: str,
) -> list[Chunk]:
    """Split cleaned pages into chunks: whole sentences, legal units opening a chunk."""
    text, page_starts = join_pages(pages)
    units = _units(text, counter, params.budget)
    groups = _pack(units, params)
    chunk_texts = [text[group[0].start : group[-1].end] for group in groups]
    # Packing counts each sentence plus one token for its boundary, an upper bound of the
    # joined text's count; only chunks near the model's limit are tokenized again to be sure.
    counts = [sum(unit.tokens for unit in group) + len(group) - 1 for group in groups]
    near_limit = [i for i, n in enumerate(counts) if n > params.max_tokens * 0.9]
    for i, n in zip(near_limit, counter.count([chunk_texts[i] for i in near_limit]), strict=True):
        counts[i] = n
    chunks: list[Chunk] = []
    for group, chunk_text, tokens in zip(groups, chunk_texts, counts, strict=True):
        start, end = group[0].start, group[-1].end
        pieces = [(start, end, tokens)]
        if tokens > params.max_tokens:
            # Joining sentences can tokenize longer than their sum; never let the model truncate.
            pieces = [
                (start + a, start + b, n) for (a, b), n in _measured(counter, chunk_text, params.budget)
            ]
        for piece_start, piece_end, piece_tokens in pieces:
            chunks.append(
                Chunk(
                    document_id=document_id,
                    file_name=file_name,
                    ordinal=len(chunks),
                    text=text[piece_start:piece_end],
                    first_page=_page_at(pages, page_starts, piece_start),
                    last_page=_page_at(pages, page_starts, piece_end - 1),
                    char_start=piece_start,
                    char_end=piece_end,
                    heading=group[0].heading,
                    token_count=piece_tokens,
                )
            )
    return chunks


def _measured(counter: TokenCounter, text: str, budget: int) -> list[tuple[tuple[int, int], int]]:
    spans = counter.split(text, budget)
    return list(zip(spans, counter.count([text[a:b] for a, b in spans]), strict=True))


def section_starts(text: str) -> set[int]:
    """Offsets of the lines of ``text`` that are section titles; none in a legal act.

    An act's structure is its units (Art., §, Rozdział); its capitalised lines are the
    gazette's masthead and the act's name, not sections.
    """
    lines = text.split("\n")
    if any(starts_unit(line) for line in lines):
        return set()
    starts: set[int] = set()
    offset = 0
    for index, line in enumerate(lines):
        if heading_at(lines, index):
            starts.add(offset + len(line) - len(line.lstrip()))
        offset += len(line) + 1
    return starts


def _units(text: str, counter: TokenCounter, budget: int) -> list[_Unit]:
    spans = split_sentences(text)
    sentences = [text[a:b] for a, b in spans]
    counts = counter.count(sentences)
    sections = section_starts(text)
    tracker = HeadingTracker()
    units: list[_Unit] = []
    for (start, end), sentence, tokens in zip(spans, sentences, counts, strict=True):
        if not any(char.isalnum() for char in sentence):
            continue  # dot leaders, lone brackets: nothing to find or to read
        at_line_start = start == 0 or text[start - 1] == "\n"
        section = start in sections  # a title's line may be indented (manual pages)
        opens = section or (at_line_start and starts_unit(sentence))
        heading = tracker.update(sentence if at_line_start or section else "", section=section)
        if tokens <= budget:
            units.append(_Unit(start, end, tokens, opens, heading))
            continue
        for index, ((a, b), n) in enumerate(_measured(counter, sentence, budget)):
            units.append(_Unit(start + a, start + b, n, opens and index == 0, heading))
    return units


def _pack(units: list[_Unit], params: ChunkingParams) -> list[list[_Unit]]:
    budget, overlap = params.budget, params.overlap
    # A legal unit opens a new chunk unless the current one is still small: tiny
    # articles are better read together than embedded one by one.
    min_tokens_before_break = budget // 4
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    tokens = 0
    fresh = 0  # units in ``current`` that are not overlap from the previous chunk
    for unit in units:
        boundary = unit.opens_unit and fresh and tokens >= min_tokens_before_break
        if current and fresh and (boundary or tokens + unit.tokens + 1 > budget):
            groups.append(current)
            carried = [] if unit.opens_unit else _tail(current, overlap, budget - unit.tokens)
            current, tokens, fresh = carried, sum(u.tokens + 1 for u in carried), 0
        current.append(unit)
        tokens += unit.tokens + 1
        fresh += 1
    if current and fresh:
        groups.append(current)
    return groups


def _tail(units: list[_Unit], overlap: int, room: int) -> list[_Unit]:
    """The last sentences of a chunk, up to ``overlap`` tokens, carried into the next."""
    carried: list[_Unit] = []
    total = 0
    for unit in reversed(units):
        if total + unit.tokens + 1 > min(overlap, room):
            break
        carried.insert(0, unit)
        total += unit.tokens + 1
    return carried


def _page_at(pages: Sequence[Page], starts: list[int], offset: int) -> int | None:
    index = max(0, bisect.bisect_right(starts, offset) - 1)
    return pages[index].number


def embedding_texts(chunks: Sequence[Chunk], counter: TokenCounter, max_tokens: int) -> list[str]:
    """What the embedder reads for each chunk: its heading, then its text.

    A chunk in the middle of a section ("Menu użytkownika zawiera…" under "6. Sterownik CP-3")
    says less on its own than under its title; a chunk that opens with its heading already
    has it. The heading goes in only where it fits the model beside the text, so it never
    pushes the text's end past the model's window. Stored and shown text stays the chunk's.
    """
    wanted = [bool(chunk.heading) and not _opens_with(chunk.text, chunk.heading) for chunk in chunks]
    headings = list(dict.fromkeys(chunk.heading for chunk, want in zip(chunks, wanted, strict=True) if want))
    heading_tokens = dict(zip(headings, counter.count(headings), strict=True))
    texts = []
    for chunk, want in zip(chunks, wanted, strict=True):
        fits = want and chunk.token_count + heading_tokens[chunk.heading] + 1 <= max_tokens
        texts.append(f"{chunk.heading}\n{chunk.text}" if fits else chunk.text)
    return texts


def _opens_with(text: str, heading: str) -> bool:
    # A legal heading names the path ("Załącznik do obwieszczenia, Art. 5"); its last part is
    # what a chunk opening that unit starts with.
    last = heading.rsplit(", ", 1)[-1]
    return text.lstrip('„"').startswith(last)
