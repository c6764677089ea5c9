"""A causal LM's tokens from its directory: the token limit never above the positions the model has,
the start token its BOS (EOS without one), and its tokenizer loaded once per process."""

from __future__ import annotations

import json

import pytest
from conftest import MATH, WEB

from curation.formats.tokens import positions, tokens_for, tokens_of
from curation.tinylm import train_tokenizer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokens") / "model"
    train_tokenizer(WEB + MATH, vocab_size=300).save_pretrained(directory)
    (directory / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_positions": 64}))
    return directory


def test_the_positions_come_from_the_models_config(tmp_path):
    for config, expected in (
        ({"n_positions": 64}, 64),
        ({"max_position_embeddings": 2048}, 2048),
        ({"n_positions": 0}, None),
        ({"n_positions": "64"}, None),
        ({}, None),
    ):
        (tmp_path / "config.json").write_text(json.dumps(config))
        assert positions(str(tmp_path)) == expected, config
    (tmp_path / "config.json").write_text("{not json")
    assert positions(str(tmp_path)) is None
    assert positions(str(tmp_path / "absent")) is None


def test_the_limit_is_capped_by_the_positions_and_rows_start_with_bos_else_eos(model_dir):
    tokenizer = train_tokenizer(WEB, vocab_size=300)
    capped = tokens_of(tokenizer, str(model_dir), 512, span="last-turn", truncation="keep-end")
    assert (capped.max_length, capped.start_id) == (64, tokenizer.bos_token_id)
    assert (capped.span, capped.truncation) == ("last-turn", "keep-end")
    assert tokens_of(tokenizer, str(model_dir), 32).max_length == 32
    tokenizer.bos_token = None
    assert tokens_of(tokenizer, str(model_dir), 32).start_id == tokenizer.eos_token_id != capped.start_id


def test_the_tokenizer_of_a_directory_loads_once_and_tokenizes_without_special_tokens(model_dir):
    first, again = tokens_for(str(model_dir), 128), tokens_for(str(model_dir), 16, truncation="keep-start")
    assert first.tokenizer is again.tokenizer
    assert (first.max_length, again.max_length, again.truncation) == (64, 16, "keep-start")
    (ids,) = first.ids(["The mean of a sample."])
    assert first.tokenizer.decode(ids) == "The mean of a sample." and first.start_id not in ids
