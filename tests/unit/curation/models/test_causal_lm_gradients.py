"""The causal LM's gradients: the warmup's gradient at θT matches a finite difference of the mean
loss, and gradcos's own LoRA comes and goes without touching θT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from conftest import MATH, WEB

from curation.models.base import WarmupConfig
from curation.models.causal_lm import CausalLMAdapter
from curation.models.lora import GRADCOS_ADAPTER, WARMUP_ADAPTER

ROWS = pd.DataFrame({"text": WEB + MATH})
CONFIG = WarmupConfig(steps=3, lr=1e-2, batch_size=4, lora_rank=2, lora_alpha=4)


def test_the_warm_gradient_is_the_gradient_of_the_mean_loss(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm, device="cpu")
    adapter.warmup(ROWS.iloc[:6], CONFIG)
    rows = ROWS.iloc[6:10]
    gradient = adapter.warm_gradient(rows)
    params = list(adapter.warm_states.params.values())
    assert gradient.shape == (sum(p.numel() for p in params),) and np.abs(gradient).sum() > 0
    first = params[0].data.view(-1)
    step, at = 1e-3, int(np.abs(gradient[: first.numel()]).argmax())
    before = adapter.losses(rows, "warm").mean()
    first[at] += step
    after = adapter.losses(rows, "warm").mean()
    first[at] -= step
    assert abs((after - before) / step - gradient[at]) < 0.05 * abs(gradient[at]) + 1e-4


def test_gradcos_lora_is_trained_apart_and_released_leaving_theta_t(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm, device="cpu")
    adapter.warmup(ROWS.iloc[:6], CONFIG)
    warm = adapter.losses(ROWS, "warm")
    named = adapter.gradient_model(CONFIG)
    assert named and all(f".{GRADCOS_ADAPTER}." in name for name, _ in named)
    prepared = adapter.prepare(ROWS)
    loss = adapter.gradient_loss(prepared, [0, 1, 2], train=False)
    grads = torch.autograd.grad(loss, [p for _, p in named])
    assert any(g.abs().sum() > 0 for g in grads)
    adapter.drop_gradient_model()
    assert set(adapter.model.peft_config) == {WARMUP_ADAPTER}
    np.testing.assert_allclose(adapter.losses(ROWS, "warm"), warm)
