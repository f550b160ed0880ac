"""Tiny random-weight models built inside the tests, saved like real ones and loaded the same way."""

from __future__ import annotations

from pathlib import Path

# Bielik-4.5B-v3.0-Instruct's ChatML template (tokenizer_config.json): <s> once, no system default.
BIELIK_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]

TRAINING_TEXT = [
    "Jesteś asystentem, który odpowiada na pytania wyłącznie na podstawie fragmentów dokumentów.",
    "Art. 18. 1. Plan urządzenia lasu sporządza się na 10 lat, z uwzględnieniem zasad gospodarki leśnej.",
    "Nadleśniczy prowadzi gospodarkę leśną w nadleśnictwie na podstawie planu urządzenia lasu.",
    "Ustawa określa zasady zachowania, ochrony i powiększania zasobów leśnych. Żółw, źdźbło, łąka, ćma.",
    "Minister właściwy do spraw środowiska zatwierdza plan urządzenia lasu w terminie 30 dni.",
    "Odpowiadaj po polsku, zwięźle i rzeczowo. Nie znalazłem w dokumentach informacji na ten temat.",
]


def build_tiny_llama(folder: Path, *, context: int = 1024, seed: int = 0) -> Path:
    """A 2-layer Llama (Bielik's family: GQA, untied embeddings) with a byte-level BPE tokenizer
    carrying Bielik's special tokens and chat template, saved to ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator(TRAINING_TEXT * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        model_max_length=context,
    )
    tokenizer.chat_template = BIELIK_CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def make_first_token(folder: Path, token: str) -> None:
    """Rewrite the saved model so that greedy decoding emits ``token`` first.

    Its output row becomes ten times the row of the token the model picks first anyway,
    so its logit wins at that step: a way to test stop tokens with random weights.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Pytanie"}], tokenize=False, add_generation_prompt=True
    )
    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        first = int(model(ids).logits[0, -1].argmax())
        head = model.get_output_embeddings().weight
        head[tokenizer.convert_tokens_to_ids(token)] = head[first] * 10
    model.save_pretrained(folder)
