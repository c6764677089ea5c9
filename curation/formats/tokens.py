"""A causal LM's `Tokens` from its directory: the tokenizer, the token limit it allows, its start token.

One function, so the model adapter and the target checks (which find chat rows whose labelled
tokens would all be cut off) tokenize alike. Tokenizers load once per process and directory.
"""

from __future__ import annotations

import functools
import json
import os

from curation.formats.base import Tokens


@functools.lru_cache(maxsize=8)
def _tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    # never a model directory's own Python code (curation.models.causal_lm refuses an auto_map first)
    return AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False, local_files_only=True)


def positions(model_dir: str) -> int | None:
    """How many positions the model has (config.json), None if it does not say."""
    try:
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None
    found = config.get("n_positions") or config.get("max_position_embeddings")
    return int(found) if isinstance(found, int) and found > 0 else None


def tokens_of(
    tokenizer, model_dir: str, max_length: int, span: str = "all-assistant", truncation: str = "keep-answer"
) -> Tokens:
    """Tokens with this tokenizer of the model in `model_dir`: `max_length` never above the positions
    the model has; every row starts with its BOS token (EOS when it has none)."""
    limit = positions(model_dir)
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return Tokens(tokenizer, min(max_length, limit) if limit else max_length, start, span, truncation)


def tokens_for(model_dir: str, max_length: int, truncation: str = "keep-answer") -> Tokens:
    """The model's Tokens, with the tokenizer this process loaded once for the directory."""
    return tokens_of(_tokenizer(model_dir), model_dir, max_length, truncation=truncation)
