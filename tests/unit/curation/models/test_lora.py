"""Where LoRA goes: the attention projections or every linear layer, per architecture; a model
with none of the modules this architecture's LoRA needs is refused with the architectures known."""

from __future__ import annotations

import pytest
from transformers import AutoModelForCausalLM

from curation.errors import InputError
from curation.models.lora import ATTENTION, GATED_MLP, lora_config, refuse_unknown_layout


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
