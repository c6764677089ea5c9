"""Build a small GPT-2 (or Llama-style model) and its tokenizer from local text: no model hub needed.

Used by `curate demo` (a base model pretrained briefly on generic text) and by the tests (an
untrained or barely trained model of a few thousand parameters).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from curation.progress import progress_bar

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
CHAT_TOKENS = ["<|im_start|>", "<|im_end|>"]
# Chat templates in the styles real instruction models use, for tests of chat rows on tiny models:
# ChatML (Qwen2, SmolLM2), ChatML with a default system prompt written into every conversation
# without one (as SmolLM2's and Qwen2's do), and Llama 2's [INST] style (no assistant header).
CHAT_TEMPLATES = {
    "chatml": "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "chatml-system": "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "inst": "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'assistant' %}"
    "{{ ' ' + m['content'] + eos_token }}{% else %}{{ '[INST] ' + m['content'] + ' [/INST]' }}{% endif %}{% endfor %}",
}


def train_tokenizer(texts: Sequence[str], vocab_size: int = 2048, chat: bool = False) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on the given texts (`chat`: with ChatML's two special tokens)."""
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL.values()) + (CHAT_TOKENS if chat else []),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    extra = {"additional_special_tokens": CHAT_TOKENS} if chat else {}
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL, **extra)


@dataclass(frozen=True)
class TinyLM:
    """The shape of a tiny model and how long it is pretrained."""

    vocab_size: int = 2048
    layers: int = 2
    width: int = 64
    heads: int = 4
    context: int = 256
    pretrain_steps: int = 0
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0
    arch: str = "gpt2"
    chat_template: str | None = None


def build_model(directory: str, texts: Sequence[str], **shape: Any) -> str:
    """Train a tokenizer, build a GPT-2 (`arch="llama"`: a Llama-style model: RMSNorm, rotary positions,
    gated MLP, q/k/v/o projections; `arch="qwen2"`: Qwen2's, the same with biased q/k/v), optionally
    pretrain it on the texts; save to directory, with one of CHAT_TEMPLATES if `chat_template` names one.
    `shape`: the fields of `TinyLM`."""
    spec = TinyLM(**shape)
    vocab_size, layers, width, heads, context = spec.vocab_size, spec.layers, spec.width, spec.heads, spec.context
    arch, chat_template = spec.arch, spec.chat_template
    torch.manual_seed(spec.seed)
    tokenizer = train_tokenizer(texts, vocab_size, chat=chat_template is not None)
    if chat_template is not None:
        tokenizer.chat_template = CHAT_TEMPLATES[chat_template]
    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if arch in ("llama", "qwen2"):
        config_class, model_class = (
            (LlamaConfig, LlamaForCausalLM) if arch == "llama" else (Qwen2Config, Qwen2ForCausalLM)
        )
        config = config_class(
            vocab_size=len(tokenizer),
            hidden_size=width,
            intermediate_size=2 * width,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads,
            max_position_embeddings=context,
            tie_word_embeddings=True,
            **special,
        )
        model = model_class(config)
    else:
        config = GPT2Config(
            vocab_size=len(tokenizer), n_positions=context, n_embd=width, n_layer=layers, n_head=heads, **special
        )
        model = GPT2LMHeadModel(config)
    if spec.pretrain_steps:
        _pretrain(model, tokenizer, texts, spec)
    os.makedirs(directory, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _pretrain(model, tokenizer, texts, spec: TinyLM) -> None:
    steps, batch_size, lr, context, seed = spec.pretrain_steps, spec.batch_size, spec.lr, spec.context, spec.seed
    ids = [
        [tokenizer.bos_token_id, *row[: context - 2], tokenizer.eos_token_id]
        for row in tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    ]
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    model.train()
    with progress_bar(steps, "pretrain base model", unit="step") as progress:
        for _ in range(steps):
            batch = [ids[i] for i in torch.randint(len(ids), (batch_size,), generator=generator)]
            width = max(len(row) for row in batch)
            input_ids = torch.full((len(batch), width), tokenizer.pad_token_id)
            labels = torch.full((len(batch), width), -100)
            for r, row in enumerate(batch):
                input_ids[r, : len(row)] = torch.tensor(row)
                labels[r, : len(row)] = torch.tensor(row)
            loss = model(input_ids=input_ids, attention_mask=(labels != -100).long(), labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            progress(1)
    model.eval()
