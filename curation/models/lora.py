"""Where LoRA adapters go in a causal LM, per architecture, and the peft config of one.

The warmup's adapter sits on the attention projections (scope `attention`) or on every linear
layer of the blocks (`wide`, the finetunes'); gradcos trains its own attention adapter. A model
whose modules are not where this architecture's LoRA would go is refused before any training.
"""

from __future__ import annotations

import torch
from peft import LoraConfig
from peft.tuners.lora import LoraLayer

from curation.errors import InputError
from curation.models.warm_states import WarmStates

WARMUP_ADAPTER = "warmup"
GRADCOS_ADAPTER = "gradcos"  # the gradcos baseline's own LoRA, trained on a sample of the pool

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
GATED_MLP = ["gate_proj", "up_proj", "down_proj"]
# Per architecture (config.json's model_type): the attention projections and every linear layer of
# the blocks. GPT-2's c_proj is both the attention's output and the MLP's: a pattern tells them apart.
LORA_TARGETS: dict[str, tuple[list[str] | str, list[str]]] = {
    "gpt2": (r".*\.attn\.(c_attn|c_proj)", ["c_attn", "c_proj", "c_fc"]),
    **{
        model_type: (ATTENTION, ATTENTION + GATED_MLP)
        for model_type in ("llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "gemma3_text")
    },
}


def lora_config(model_type: str, rank: int, alpha: int, scope: str) -> LoraConfig:
    """A LoRA of `rank` on a scope's modules; GPT-2's Conv1D layers need fan_in_fan_out."""
    attention, wide = LORA_TARGETS.get(model_type, (ATTENTION, ATTENTION + GATED_MLP))
    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=0.0,
        target_modules=attention if scope == "attention" else wide,
        fan_in_fan_out=model_type == "gpt2",
        task_type="CAUSAL_LM",
    )


def refuse_unknown_layout(model) -> None:
    """InputError if the model has no modules where this architecture's LoRA would go."""
    model_type = model.config.model_type
    attention, _ = LORA_TARGETS.get(model_type, (ATTENTION, None))
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    wanted = ["c_attn"] if model_type == "gpt2" else attention
    if not set(wanted) <= names:
        raise InputError(
            f"curate does not know where LoRA adapters go in a {model_type!r} model (no "
            f"{', '.join(sorted(set(wanted) - names))} modules); it knows {', '.join(sorted(LORA_TARGETS))}",
            field="--model",
        )


def merged_states(model, warm: WarmStates, states: tuple[str, ...]) -> WarmStates:
    """θ0 and each of `states` (θ1, θT) of a LoRA warmup as plain weights: every LoRA-wrapped layer's base
    weight, and that weight plus the state's update (W + s·B·A). Scoring swaps them in per pass with the
    adapters off: two plain forward passes per batch, no LoRA matmuls and no adapter switching (measured
    in benchmarks/RESULTS.md, "Scoring at its bound"). A float32 model only: in bfloat16 the small update
    would round away in the sum, so a bf16 model keeps LoRA's own path."""
    layers = {n: m for n, m in model.named_modules() if isinstance(m, LoraLayer) and WARMUP_ADAPTER in m.lora_A}
    merged = WarmStates({n: m.base_layer.weight for n, m in layers.items()}, live="theta0")
    merged.states["theta0"] = {n: m.base_layer.weight.data for n, m in layers.items()}
    for state in set(states) - {"theta0"}:
        with warm.holding(state), torch.no_grad():
            merged.states[state] = {
                n: m.base_layer.weight.data + m.get_delta_weight(WARMUP_ADAPTER) for n, m in layers.items()
            }
    return merged
