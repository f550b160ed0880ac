"""Bielik (or any chat model with a template) generating in this process, with transformers."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.control_tokens import control_tokens
from rag.device import resolve_device
from rag.errors import GenerationError, ModelLoadError
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

STOP_TOKENS = ("<|im_end|>", "</s>")
FALLBACK_CONTEXT = 4096


class TransformersGenerator:
    """A causal LM loaded once; one generation at a time, streamed token by token.

    The tokenizer and config load at construction (cheap: enough to render and count a
    prompt); the weights load in ``warm_up()`` or on the first answer.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        context_tokens: int | None = None,
    ) -> None:
        from transformers import AutoConfig, AutoTokenizer

        self.model_name = model
        self.device = resolve_device(device)
        self.dtype = _dtype_for(dtype, self.device)
        with _load_errors(model):
            hub = hub_options(model)
            self.tokenizer = AutoTokenizer.from_pretrained(model, **hub)
            self.config = AutoConfig.from_pretrained(model, **hub)
        if not getattr(self.tokenizer, "chat_template", None):
            raise ModelLoadError(f"{model} has no chat template: polrag needs an instruct (chat) model")
        self.context_tokens = context_tokens or _context_length(self.config, self.tokenizer)
        self.stop_ids = _stop_ids(self.tokenizer)
        self.control_tokens = control_tokens(self.tokenizer)
        self._model: Any = None
        self._load_lock = threading.Lock()
        # One generation at a time: the model's buffers and caches are not safe to share.
        self._generate_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersGenerator:
        return cls(
            settings.llm_model,
            device=settings.device,
            dtype=settings.llm_dtype,
            context_tokens=settings.llm_context_tokens,
        )

    def render(self, messages: list[Message]) -> str:
        return render_chat(self.tokenizer, neutralise_messages(messages, self.control_tokens))

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self._encode(self.render(messages)))

    def warm_up(self) -> None:
        with self._load_lock:
            if self._model is None:
                self._model = self._load_model()

    def stream(self, messages: list[Message], params: GenerationParams) -> TextStream:
        self.warm_up()
        prompt_ids = self._encode(self.render(messages))
        return TextStream(lambda stream: self._pieces(stream, prompt_ids, params))

    def _pieces(self, stream: TextStream, prompt_ids: list[int], params: GenerationParams) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return stream.cancelled.is_set()

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        inputs = torch.tensor([prompt_ids], device=self._model.device)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": params.temperature, "top_p": 0.95}
            if params.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                with self._generate_lock, torch.inference_mode():
                    output = self._model.generate(
                        inputs,
                        attention_mask=torch.ones_like(inputs),
                        max_new_tokens=params.max_new_tokens,
                        eos_token_id=self.stop_ids,
                        pad_token_id=self.tokenizer.pad_token_id or self.stop_ids[0],
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([Cancelled()]),
                        **sampling,
                    )
                outcome["new_tokens"] = int(output.shape[1] - inputs.shape[1])
                outcome["last_token"] = int(output[0, -1])
            except BaseException as exc:  # handed to the reading thread, which raises it
                outcome["error"] = exc
                streamer.end()

        worker = threading.Thread(target=run, name="polrag-generate", daemon=True)
        worker.start()
        try:
            yield from streamer
        finally:
            if worker.is_alive():  # the reader left early: stop the model too
                stream.cancel()
            worker.join()
        if "error" in outcome:
            raise _generation_error(outcome["error"])
        stream.usage = Usage(len(prompt_ids), outcome.get("new_tokens", 0))
        ran_out = stream.usage.completion_tokens >= params.max_new_tokens
        if ran_out and outcome.get("last_token") not in self.stop_ids:
            stream.finish_reason = "length"

    def _encode(self, text: str) -> list[int]:
        return encode_text(self.tokenizer, text)

    def _load_model(self) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        options: dict[str, Any] = {"dtype": getattr(torch, self.dtype), **hub_options(self.model_name)}
        if self.device == "cuda":
            options["attn_implementation"] = "sdpa"
        log.info("loading %s (%s on %s)", self.model_name, self.dtype, self.device)
        with _load_errors(self.model_name):
            try:
                model = AutoModelForCausalLM.from_pretrained(self.model_name, **options)
                model.to(self.device)  # type: ignore[arg-type]
            except torch.cuda.OutOfMemoryError:
                raise ModelLoadError(
                    f"{self.model_name} does not fit in GPU memory in {self.dtype}: free the GPU, "
                    "use a smaller dtype (POLRAG_LLM_DTYPE=bfloat16) or serve it elsewhere "
                    "(POLRAG_LLM_BACKEND=openai with vLLM)"
                ) from None
        model.eval()
        return model


def _dtype_for(setting: str, device: str) -> str:
    if setting != "auto":
        return setting
    if device == "cuda":
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"  # bf16 matmuls are slow on most CPUs and fp16 ones worse


def _context_length(config: Any, tokenizer: Any) -> int:
    """The model's context from its config (``max_position_embeddings``), not a constant."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", 0)
    if isinstance(limit, int) and 0 < limit < 10**7:
        return limit
    log.warning("no context length in the model config; assuming %d tokens", FALLBACK_CONTEXT)
    return FALLBACK_CONTEXT


def _stop_ids(tokenizer: Any) -> list[int]:
    """Token ids that end an answer: <|im_end|> and </s> (ChatML), plus the tokenizer's EOS."""
    ids = [tokenizer.convert_tokens_to_ids(token) for token in STOP_TOKENS]
    ids.append(tokenizer.eos_token_id)
    unknown = tokenizer.unk_token_id
    stops = [i for i in dict.fromkeys(ids) if isinstance(i, int) and i != unknown]
    if not stops:
        raise ModelLoadError("the tokenizer knows neither <|im_end|> nor </s>: cannot tell where answers end")
    return stops


@contextmanager
def _load_errors(model: str) -> Iterator[None]:
    """Turns the hub's and transformers' loading errors into advice."""
    try:
        yield
    except (OSError, ValueError) as exc:
        text = str(exc)
        if _is_hub_refusal(exc, model):
            raise ModelLoadError(
                f"{model} is gated on the Hugging Face hub: accept its terms at "
                f"https://huggingface.co/{model} and set HF_TOKEN to a token of that account"
            ) from None
        where = "folder" if Path(model).exists() else "hub id"
        first_line = text.splitlines()[0].rstrip(". ") if text else repr(exc)
        raise ModelLoadError(
            f"cannot load the generator {model!r} ({where}): {first_line}. "
            "Set POLRAG_LLM_MODEL to a hub id (with internet) or a local folder with the model files"
        ) from None


def _is_hub_refusal(exc: BaseException, model: str) -> bool:
    """Whether the hub refused the model for want of access (gated or private), not for its absence.

    The message is read without the model's own name: a folder such as /tmp/pytest-403/model
    once passed for an HTTP 403 and sent the user off to accept terms that do not exist."""
    from huggingface_hub.errors import GatedRepoError

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, GatedRepoError):
            return True
        cause = cause.__cause__ or cause.__context__
    text = str(exc).replace(model, "")
    return bool(_HUB_REFUSAL.search(text))


_HUB_REFUSAL = re.compile(r"gated repo|\b40[13] Client Error|\bstatus(?: code)?:? 40[13]\b", re.IGNORECASE)


def _generation_error(exc: BaseException) -> BaseException:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return GenerationError(
            "the GPU ran out of memory while answering: lower POLRAG_TOP_K or "
            "POLRAG_LLM_MAX_NEW_TOKENS, or serve the model with vLLM (POLRAG_LLM_BACKEND=openai)"
        )
    if isinstance(exc, Exception):
        return GenerationError(f"generation failed: {exc}")
    return exc
