"""Where LoRA goes: the attention projections or every linear layer, per architecture; a model
with none of the modules this architecture's LoRA needs is refused with the architectures known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import MATH, WEB
from transformers import AutoModelForCausalLM

from curation.errors import InputError
from curation.formats.text import Text
from curation.models.base import WarmupConfig
from curation.models.causal_lm import CausalLMAdapter
from curation.models.lora import ATTENTION, GATED_MLP, lora_config, refuse_unknown_layout
from curation.rows import HASH_COLUMN

ROWS = pd.DataFrame({"text": WEB + MATH})
ROWS[HASH_COLUMN] = Text.row_hashes(ROWS)


@pytest.fixture(params=["gpt2", "llama"])
def model_dir(request, tiny_lm, tiny_llama) -> str:
    return tiny_lm if request.param == "gpt2" else tiny_llama


def test_each_scope_and_architecture_gets_its_modules():
    llama = lora_config("llama", rank=4, alpha=8, scope="attention")
    assert set(llama.target_modules) == set(ATTENTION) and llama.r == 4 and llama.lora_alpha == 8
    assert set(lora_config("llama", 4, 8, "wide").target_modules) == set(ATTENTION + GATED_MLP)
    gpt2 = lora_config("gpt2", 4, 8, "attention")
    assert gpt2.target_modules == r".*\.attn\.(c_attn|c_proj)" and gpt2.fan_in_fan_out  # Conv1D layers
    assert set(lora_config("gpt2", 4, 8, "wide").target_modules) == {"c_attn", "c_proj", "c_fc"}
    assert not lora_config("qwen2", 4, 8, "attention").fan_in_fan_out


def test_a_model_without_the_modules_lora_needs_is_refused(tiny_llama, tiny_lm):
    refuse_unknown_layout(AutoModelForCausalLM.from_pretrained(tiny_llama))
    refuse_unknown_layout(AutoModelForCausalLM.from_pretrained(tiny_lm))
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    model.config.model_type = "gpt2"  # a GPT-2 by its config, Llama modules inside: no c_attn
    with pytest.raises(InputError, match="does not know where LoRA adapters go in a 'gpt2' model") as caught:
        refuse_unknown_layout(model)
    assert "c_attn" in str(caught.value) and caught.value.field == "--model"


@pytest.mark.parametrize("scope", ["attention", "wide"])
@pytest.mark.parametrize("start", ["theta0", "theta1"])
def test_scoring_on_merged_weights_gives_loras_own_losses_and_leaves_theta0_in_place(model_dir, scope, start):
    """A float32 model scores θT as W + s·B·A swapped in per pass; the losses are LoRA's own (GPT-2's Conv1D
    layers, fan-in-fan-out, included) and θ0's weights are the same tensors afterwards."""
    adapter = CausalLMAdapter(model_dir, device="cpu")
    adapter.warmup(ROWS, WarmupConfig(steps=4, lr=5e-2, batch_size=4, lora_rank=2, lora_alpha=4, scope=scope))
    before = {n: p.detach().clone() for n, p in adapter.base.named_parameters()}
    first, warm = adapter.endpoint_losses(ROWS, batch_size=3, start=start)  # merged (float32)

    def peft_path(state: str) -> np.ndarray:  # LoRA's own switching, as a bf16 model scores
        out = np.zeros(len(ROWS))
        with torch.inference_mode():
            for index, ids, labels, mask in adapter._batches(adapter.encode(ROWS, scoring=True), 3):
                with adapter._at(state):
                    out[index] = adapter._row_losses(ids, mask, labels).double().numpy()
        return out

    np.testing.assert_allclose(first, peft_path(start), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(warm, peft_path("warm"), rtol=1e-5, atol=1e-6)
    assert np.abs(warm - adapter.losses(ROWS, "theta0")).max() > 1e-3  # the update moved the losses
    after = dict(adapter.base.named_parameters())
    assert all(torch.equal(before[n], after[n].detach()) for n in before)
