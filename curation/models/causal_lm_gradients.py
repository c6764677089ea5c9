"""The causal-LM adapter's gradients: the warmup's gradient at θT (the calibration's `gradient`
criterion) and gradcos's per-row gradients of its own attention LoRA (`PerRowGradients`).

A mixin of `CausalLMAdapter`: it uses the adapter's LoRA wiring (`_wrap`, `release`, `model`),
its rows' tokens (`encode`, `_batches`), its loss (`_row_losses`) and its warm states (`_at`).
"""

from __future__ import annotations

import numpy as np
import torch

from curation.models.base import PerRowGradients, WarmupConfig
from curation.models.lora import GRADCOS_ADAPTER


class LoRAGradients(PerRowGradients):
    def warm_gradient(self, rows) -> np.ndarray:
        """The gradient of the mean loss over rows w.r.t. what the warmup trains, at θT, flattened."""
        params = list(self.warm_states.params.values())
        grads = [torch.zeros_like(p, dtype=torch.float32) for p in params]
        encoded = self.encode(rows, scoring=True)
        with torch.enable_grad(), self._at("warm"):
            for p in params:
                p.requires_grad_(True)
            for _, ids, labels, mask in self._batches(encoded, 32):
                loss = self._row_losses(ids, mask, labels).sum() / len(encoded)
                for total, g in zip(grads, torch.autograd.grad(loss, params)):
                    total += g.float()
        return torch.cat([g.flatten() for g in grads]).cpu().numpy()

    def gradient_model(self, config: WarmupConfig):
        torch.manual_seed(config.seed)
        self._wrap(GRADCOS_ADAPTER, config.lora_rank, config.lora_alpha, "attention")
        return [(name, p) for name, p in self.model.named_parameters() if f".{GRADCOS_ADAPTER}." in name]

    def prepare(self, rows):
        return self.encode(rows)

    def gradient_loss(self, prepared, index, train):
        self.model.train(train)  # GPT-2's dropout: on while training, off for per-row gradients
        _, ids, labels, mask = self._batches.one([prepared[i] for i in index])
        return self._row_losses(ids, mask, labels).mean()

    def drop_gradient_model(self) -> None:
        self.model.eval()
        self.release(GRADCOS_ADAPTER)
