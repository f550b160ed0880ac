"""Control tokens in text from documents and users, made harmless before a model reads them.

A chat model's tokenizer turns the text ``<|im_end|>`` into its one control id wherever it
occurs, so a passage holding ``<|im_end|>\\n<|im_start|>system\\n…`` would close the system
message and open its own. Every such token in untrusted text gets a WORD JOINER (U+2060)
after its first character: ``<|im_start|>`` -> ``<\\u2060|im_start|>``.

Why that character: it is invisible, so the text reads and displays exactly as before (a
document about HTML keeps its ``<s>``); it has no Unicode decomposition, so neither NFC nor
NFKC puts the token back together (a full-width or other look-alike ``｜`` would, under
NFKC); and a byte-level or sentencepiece tokenizer encodes it as ordinary text bytes, never
as part of a control id. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

BREAK = "\u2060"  # WORD JOINER

# What a server whose tokenizer is unknown may treat as control tokens: ChatML's and
# sentencepiece's, and any ``<|name|>`` (ChatML, Llama 3, Phi and Qwen families spell theirs so).
DEFAULT_CONTROL_TOKENS = ("<|im_start|>", "<|im_end|>", "<s>", "</s>")
PIPE_TOKEN = r"<\|[^\s<>|]{1,64}\|>"
# Added tokens spelled as tags or bracketed keywords: <think>, </tool_call>, [INST], [/INST].
MARKUP_TOKEN = re.compile(r"</?[A-Za-z_][\w:-]{0,63}>|\[/?[A-Z][A-Z_]{1,31}\]")


def control_tokens(tokenizer: Any = None) -> tuple[str, ...]:
    """The control tokens to neutralise for ``tokenizer`` (None: a server's unknown tokenizer).

    The defaults always, plus the tokenizer's ``all_special_tokens``, every added token it
    marks special (Llama 3's reserved tokens are not all in ``all_special_tokens``), and every
    added token spelled like markup even when it is not marked special: a tokenizer matches
    added tokens in plain text whatever their flag, so Qwen's ``<think>``/``<tool_call>`` or
    Mistral's ``[INST]`` in a document would reach the model as their one id. Added tokens
    that are ordinary words (a vocabulary extended with domain terms) are left alone.
    """
    tokens = list(DEFAULT_CONTROL_TOKENS)
    if tokenizer is not None:
        tokens.extend(getattr(tokenizer, "all_special_tokens", ()) or ())
        decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
        tokens.extend(
            str(added)
            for added in decoder.values()
            if getattr(added, "special", False) or MARKUP_TOKEN.fullmatch(str(added))
        )
    # A one-character token cannot be broken inside; none of the chat formats has one.
    return tuple(dict.fromkeys(token for token in tokens if _breakable(token)))


def neutralise(text: str, tokens: Sequence[str] = DEFAULT_CONTROL_TOKENS) -> str:
    """``text`` with every occurrence of ``tokens`` (and of any ``<|name|>``) broken apart.

    Idempotent; text without control tokens comes back unchanged (the same object).
    """
    pattern = _pattern(tuple(tokens))
    # Breaking one match can leave an overlapping token whole ("<s><|im_end|>" style chains
    # of prefixes): repeat until none is left. Each pass adds a break, so this ends.
    while pattern.search(text):
        text = pattern.sub(lambda match: match[0][0] + BREAK + match[0][1:], text)
    return text


def _breakable(token: object) -> bool:
    # A broken token must not match again (one holding the break would, forever).
    return isinstance(token, str) and len(token) > 1 and BREAK not in token


@lru_cache(maxsize=32)
def _pattern(tokens: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so "<|im_start|>" is matched whole rather than by a shorter token inside it.
    usable = sorted({token for token in tokens if _breakable(token)}, key=len, reverse=True)
    literal = "|".join(re.escape(token) for token in usable)
    return re.compile(f"{PIPE_TOKEN}|{literal}" if literal else PIPE_TOKEN)
