"""What a causal-LM warmup trains (its scope), for GPT-2 and Llama-style models, and its two checkpoints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import MATH, WEB

from curation.formats.text import Text
from curation.models.base import WarmupConfig
from curation.models.causal_lm import CausalLMAdapter
from curation.rows import HASH_COLUMN

ROWS = pd.DataFrame({"text": WEB + MATH})
ROWS[HASH_COLUMN] = Text.row_hashes(ROWS)
CONFIG = dict(steps=4, lr=1e-2, batch_size=4, lora_rank=2, lora_alpha=4)


@pytest.fixture(params=["gpt2", "llama"])
def model_dir(request, tiny_lm, tiny_llama) -> str:
    return tiny_lm if request.param == "gpt2" else tiny_llama


def trained_names(adapter: CausalLMAdapter) -> list[str]:
    return list(adapter.warm_states.params)


def test_attention_trains_lora_on_attention_only_and_wide_on_every_linear_layer(model_dir):
    adapter = CausalLMAdapter(model_dir)
    adapter.warmup(ROWS.iloc[:6], WarmupConfig(scope="attention", **CONFIG))
    attention = trained_names(adapter)
    assert attention and all("lora_" in n for n in attention)
    assert all(any(part in n for part in ("attn", "q_proj", "k_proj", "v_proj", "o_proj")) for n in attention)
    assert any("c_proj" in n or "o_proj" in n for n in attention)  # the output projection too (q/k/v/o)
    adapter.warmup(ROWS.iloc[:6], WarmupConfig(scope="wide", **CONFIG))
    wide = trained_names(adapter)
    assert any("mlp" in n for n in wide) and len(wide) > len(attention)


def test_a_full_warmup_trains_the_weights_and_leaves_theta0_in_place(model_dir):
    reference = CausalLMAdapter(model_dir)  # θ0 as a LoRA warmup sees it: adapters switched off
    reference.warmup(ROWS.iloc[:6], WarmupConfig(scope="attention", **CONFIG))
    theta0 = reference.losses(ROWS, "theta0")
    adapter = CausalLMAdapter(model_dir)
    adapter.warmup(ROWS.iloc[:6], WarmupConfig(scope="full", **{**CONFIG, "lr": 1e-3, "steps": 8}))
    assert not any("lora_" in n for n in trained_names(adapter))
    base, warm = adapter.endpoint_losses(ROWS, start="theta0")
    np.testing.assert_allclose(base, theta0, rtol=1e-5)  # the base weights are θ0 again after training
    assert warm[:6].mean() < base[:6].mean() - 0.01  # θT fits the warmup rows better
    np.testing.assert_allclose(adapter.embed(ROWS), reference.embed(ROWS), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scope", ["attention", "wide", "full"])
def test_both_checkpoints_survive_a_save_and_a_load_in_a_fresh_model(model_dir, scope, tmp_path):
    adapter = CausalLMAdapter(model_dir)
    adapter.warmup(ROWS.iloc[:6], WarmupConfig(scope=scope, **CONFIG))
    theta1, warm = adapter.endpoint_losses(ROWS, start="theta1")
    theta0, _ = adapter.endpoint_losses(ROWS, start="theta0")
    assert not np.allclose(theta1, theta0) and not np.allclose(theta1, warm)
    adapter.save_warm(str(tmp_path))
    fresh = CausalLMAdapter(model_dir)
    fresh.load_warm(str(tmp_path))
    for start, expected in (("theta0", theta0), ("theta1", theta1)):
        got_start, got_warm = fresh.endpoint_losses(ROWS, start=start)
        np.testing.assert_allclose(got_start, expected, rtol=1e-5)
        np.testing.assert_allclose(got_warm, warm, rtol=1e-5)


def test_checkpoint_files_of_another_model_do_not_load(tiny_lm, tiny_llama, tmp_path):
    gpt2 = CausalLMAdapter(tiny_lm)
    gpt2.warmup(ROWS.iloc[:6], WarmupConfig(scope="full", **CONFIG))
    gpt2.save_warm(str(tmp_path))
    llama = CausalLMAdapter(tiny_llama)
    with pytest.raises(ValueError, match="other tensors"):
        llama.load_warm(str(tmp_path))
    assert llama.warm_states is None


def test_an_interrupted_full_warmup_puts_theta0_back(tiny_lm):
    untouched = CausalLMAdapter(tiny_lm).embed(ROWS)
    adapter = CausalLMAdapter(tiny_lm)

    def interrupt(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        adapter.warmup(ROWS.iloc[:6], WarmupConfig(scope="full", **CONFIG), on_step=interrupt)
    assert adapter.warm_states is None and adapter.warm_key is None
    np.testing.assert_allclose(adapter.embed(ROWS), untouched, rtol=1e-5, atol=1e-6)
