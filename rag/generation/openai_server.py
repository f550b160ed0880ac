"""Any OpenAI-compatible chat server (vLLM, TGI, Ollama, llama.cpp server): the scale-out path."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from typing import Any

from rag.control_tokens import control_tokens
from rag.errors import ConfigError, GenerationError, ModelLoadError
from rag.generation.base import (
    GenerationParams,
    TextStream,
    encode_text,
    neutralise_messages,
    render_chat,
)
from rag.hub import hub_options
from rag.prompt import Message
from rag.settings import Settings
from rag.types import Usage

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 4096
# Without the model's tokenizer, a conservative estimate for Polish text (APT4 averages ~4).
CHARS_PER_TOKEN = 3.0


class OpenAIGenerator:
    """Chat completions from a server; the server applies the model's chat template."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        timeout: float = 120.0,
        tokenizer: str = "",
        context_tokens: int | None = None,
    ) -> None:
        import openai

        if not api_key.isascii():  # it travels in an HTTP header
            raise ConfigError(
                "POLRAG_LLM_API_KEY must be ASCII: copy the key exactly as the server issued it"
            )
        self.base_url = base_url
        self.model_name = model
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=1
        )
        self._tokenizer = _load_tokenizer(tokenizer or model)
        # The server tokenises what it renders, special tokens included: without its tokenizer
        # here, the ChatML and sentencepiece ones and any <|name|> are broken.
        self.control_tokens = control_tokens(self._tokenizer)
        self._context_setting = context_tokens
        self.context_tokens = context_tokens or DEFAULT_CONTEXT

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIGenerator:
        return cls(
            settings.llm_base_url,
            settings.llm_model,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout_s,
            tokenizer=settings.llm_tokenizer,
            context_tokens=settings.llm_context_tokens,
        )

    def render(self, messages: list[Message]) -> str:
        messages = neutralise_messages(messages, self.control_tokens)
        if self._tokenizer is not None:
            return render_chat(self._tokenizer, messages)
        # No local tokenizer: show what is sent; the server renders it with its own template.
        return json.dumps(messages, ensure_ascii=False, indent=2)

    def count_tokens(self, messages: list[Message]) -> int:
        if self._tokenizer is not None:
            return len(encode_text(self._tokenizer, self.render(messages)))
        chars = sum(len(m["content"]) + 16 for m in neutralise_messages(messages, self.control_tokens))
        return math.ceil(chars / CHARS_PER_TOKEN)

    def warm_up(self) -> None:
        """Check that the server answers and serves the model; learn its context length."""
        import openai

        try:
            served = {model.id: model for model in self._client.models.list()}
        except openai.APIConnectionError:
            raise ModelLoadError(
                f"cannot reach the LLM server at {self.base_url}: is it running? "
                f"(e.g. `vllm serve {self.model_name}`) Check POLRAG_LLM_BASE_URL"
            ) from None
        except openai.AuthenticationError:
            raise ModelLoadError(f"the LLM server at {self.base_url} refused POLRAG_LLM_API_KEY") from None
        except openai.APIStatusError as exc:
            log.warning("%s/models answered %s; not checking the model name", self.base_url, exc.status_code)
            served = {}
        if served and self.model_name not in served:
            raise ModelLoadError(
                f"the LLM server at {self.base_url} does not serve {self.model_name!r}; it serves "
                f"{', '.join(sorted(served))}: set POLRAG_LLM_MODEL to one of them"
            )
        max_len = getattr(served.get(self.model_name), "max_model_len", None)
        if self._context_setting is None and isinstance(max_len, int) and max_len > 0:
            self.context_tokens = max_len  # vLLM reports it

    def stream(self, messages: list[Message], params: GenerationParams) -> TextStream:
        return TextStream(lambda stream: self._pieces(stream, messages, params))

    def _pieces(self, stream: TextStream, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        import httpx
        import openai

        pieces: list[str] = []
        usage: Any = None
        finish: str | None = None
        request: dict[str, Any] = {
            "model": self.model_name,
            "messages": neutralise_messages(messages, self.control_tokens),
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
        }
        try:
            if not params.stream:
                response = self._client.chat.completions.create(**request)
                usage = response.usage
                text = response.choices[0].message.content or "" if response.choices else ""
                finish = response.choices[0].finish_reason if response.choices else None
                pieces.append(text)
                yield text
            else:
                chunks = self._client.chat.completions.create(
                    **request, stream=True, stream_options={"include_usage": True}
                )
                with chunks:
                    for chunk in chunks:
                        usage = chunk.usage or usage
                        for choice in chunk.choices:
                            finish = choice.finish_reason or finish
                            if choice.delta and choice.delta.content:
                                pieces.append(choice.delta.content)
                                yield choice.delta.content
                        if stream.cancelled.is_set():
                            return
                if finish is None:
                    # Every OpenAI-compatible server ends an answer with a finish reason; a
                    # body that ends without one was cut (server restarted, proxy timeout).
                    raise GenerationError(
                        f"the LLM server at {self.base_url} broke off the answer: "
                        "the stream ended before the answer was finished"
                    )
        except openai.APIConnectionError as exc:
            kind = "did not answer in time" if isinstance(exc, openai.APITimeoutError) else "is unreachable"
            raise GenerationError(f"the LLM server at {self.base_url} {kind}") from None
        except openai.NotFoundError:
            raise GenerationError(
                f"the LLM server at {self.base_url} does not know model {self.model_name!r}: "
                "check POLRAG_LLM_MODEL"
            ) from None
        except openai.APIStatusError as exc:
            raise GenerationError(
                f"the LLM server at {self.base_url} failed ({exc.status_code}): {_server_message(exc)}"
            ) from None
        except (openai.APIError, httpx.HTTPError) as exc:  # an error event or a cut stream mid-answer
            raise GenerationError(f"the LLM server at {self.base_url} broke off the answer: {exc}") from None
        stream.finish_reason = "length" if finish == "length" else "stop"
        if usage is not None and usage.completion_tokens is not None:
            stream.usage = Usage(usage.prompt_tokens or 0, usage.completion_tokens)
        else:  # servers without usage reports: count ourselves
            stream.usage = Usage(self.count_tokens(messages), self._count_text("".join(pieces)))

    def _count_text(self, text: str) -> int:
        if self._tokenizer is not None:
            return len(encode_text(self._tokenizer, text))
        return math.ceil(len(text) / CHARS_PER_TOKEN)


def _load_tokenizer(name: str) -> Any:
    """The model's tokenizer for exact prompt budgets, or None (then tokens are estimated)."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name, **hub_options(name))
    except (OSError, ValueError) as exc:
        log.warning(
            "no tokenizer for %r (%s): prompt tokens are estimated; set POLRAG_LLM_TOKENIZER "
            "to the served model's hub id or folder for exact budgets",
            name,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        return None
    return tokenizer if getattr(tokenizer, "chat_template", None) else None


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return str(getattr(exc, "message", exc))
