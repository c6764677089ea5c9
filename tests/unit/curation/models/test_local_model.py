"""Loading a local model directory: what is not one, or ships its own code, is refused before
transformers reads it; the fingerprint follows every file's bytes."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from curation.errors import InputError
from curation.models.local_model import directory_fingerprint, load_local_model, refuse_custom_code


def test_a_local_directory_loads_in_eval_mode_on_the_device(tiny_lm):
    tokenizer, model = load_local_model(tiny_lm, torch.device("cpu"))
    assert not model.training and model.dtype == torch.float32 and tokenizer("a b").input_ids


def test_what_is_not_a_model_directory_is_refused(tmp_path):
    with pytest.raises(InputError, match="not a local Hugging Face model directory") as caught:
        load_local_model(str(tmp_path / "missing"), torch.device("cpu"))
    assert caught.value.field == "--model"
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match="transformers cannot load this model directory"):
        load_local_model(str(tmp_path), torch.device("cpu"))


def test_a_directory_with_its_own_code_or_an_unreadable_config_is_refused(tiny_lm, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_lm, model)
    refuse_custom_code(str(model))
    (model / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": "mine.Tok"}}))
    with pytest.raises(InputError, match="ships its own Python code") as caught:
        refuse_custom_code(str(model))
    assert caught.value.field == "auto_map" and caught.value.file.endswith("tokenizer_config.json")
    (model / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable model config"):
        refuse_custom_code(str(model))


def test_the_fingerprint_changes_with_any_file_and_only_with_the_files(tiny_lm, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_lm, copy)
    assert directory_fingerprint(str(copy)) == directory_fingerprint(tiny_lm)  # content, not the path
    config = json.loads((copy / "tokenizer_config.json").read_text())
    (copy / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 63}))
    assert directory_fingerprint(str(copy)) != directory_fingerprint(tiny_lm)
