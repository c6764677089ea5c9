"""Tiny models built here from local text: a byte-level BPE tokenizer (with ChatML's tokens for chat),
a GPT-2 or Llama-style model of the asked shape, briefly pretrained, saved as a model directory that
transformers loads; the chat templates write turns in the styles real instruction models use."""

from __future__ import annotations

import math

import torch
from conftest import MATH, WEB
from transformers import AutoModelForCausalLM, AutoTokenizer

from curation.tinylm import CHAT_TEMPLATES, CHAT_TOKENS, train_tokenizer

TURNS = [{"role": "user", "content": "What is a URL?"}, {"role": "assistant", "content": "An address."}]


def mean_loss(model, tokenizer, texts) -> float:
    losses = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([[tokenizer.bos_token_id, *tokenizer(text)["input_ids"], tokenizer.eos_token_id]])
            losses.append(float(model(input_ids=ids, labels=ids).loss))
    return sum(losses) / len(losses)


def test_a_tokenizer_round_trips_text_and_keeps_the_chat_tokens_whole():
    plain, chat = train_tokenizer(WEB + MATH, vocab_size=300), train_tokenizer(WEB + MATH, vocab_size=300, chat=True)
    text = "The HTTP client sends a request line: 200 or 404?"
    assert plain.decode(plain(text)["input_ids"]) == text
    assert (plain.bos_token, plain.eos_token, plain.pad_token) == ("<s>", "</s>", "<pad>")
    for token in CHAT_TOKENS:
        assert len(chat(token, add_special_tokens=False)["input_ids"]) == 1
        assert len(plain(token, add_special_tokens=False)["input_ids"]) > 1
    assert set(CHAT_TOKENS) <= set(chat.all_special_tokens) and not set(CHAT_TOKENS) & set(plain.get_vocab())
    assert len(plain) <= 300


def test_the_gpt2_model_has_the_asked_shape_and_its_pretraining_lowered_the_loss(tiny_lm):
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_lm), AutoTokenizer.from_pretrained(tiny_lm)
    config = model.config
    assert (config.model_type, config.n_layer, config.n_embd, config.n_head, config.n_positions) == (
        "gpt2", 1, 32, 2, 64
    )  # fmt: skip
    assert config.vocab_size == len(tokenizer) and config.pad_token_id == tokenizer.pad_token_id
    untrained = math.log(config.vocab_size)  # about what a model that learned nothing scores
    assert mean_loss(model, tokenizer, WEB + MATH) < untrained - 1.0


def test_the_llama_model_has_rotary_positions_gated_mlp_and_tied_embeddings(tiny_llama):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    assert model.config.model_type == "llama" and model.config.tie_word_embeddings
    names = {name for name, _ in model.named_modules()}
    for projection in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
        assert any(name.endswith(projection) for name in names), projection
    assert model.get_input_embeddings().weight is model.get_output_embeddings().weight
    assert not any("wpe" in name or "position_embeddings" in name for name in names)


def test_the_chat_templates_write_each_style():
    tokenizer = train_tokenizer(WEB + MATH, vocab_size=300, chat=True)

    def render(style: str) -> str:
        return tokenizer.apply_chat_template(TURNS, tokenize=False, chat_template=CHAT_TEMPLATES[style])

    chatml = "<|im_start|>user\nWhat is a URL?<|im_end|>\n<|im_start|>assistant\nAn address.<|im_end|>\n"
    assert render("chatml") == chatml
    assert render("chatml-system") == "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" + chatml
    assert render("inst") == "<s>[INST] What is a URL? [/INST] An address.</s>"  # no assistant header
