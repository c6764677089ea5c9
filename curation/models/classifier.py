"""Classifier adapter: multinomial logistic regression (`linear`) or a small MLP over `features`."""

from __future__ import annotations

import copy
import hashlib
import json
import os

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from curation.models.base import FinetuneConfig, ModelAdapter, PerRowGradients, Start, WarmupConfig
from curation.models.training import Steps, train

HIDDEN = 64
INIT_SEED = 0  # θ0 of a classifier is its seeded initialization


def build(arch: str, feature_dim: int, num_classes: int) -> nn.Module:
    torch.manual_seed(INIT_SEED)
    if arch == "linear":
        return nn.Linear(feature_dim, num_classes)
    return nn.Sequential(nn.Linear(feature_dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, num_classes))


def _tensors(rows: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.stack(rows["features"].to_numpy()).astype(np.float32))
    y = torch.from_numpy(rows["label"].to_numpy().astype(np.int64))
    return x, y


class ClassifierAdapter(ModelAdapter, PerRowGradients):
    kind = "features"
    metric = "accuracy"
    higher_is_better = True

    def __init__(self, arch: str, feature_dim: int, num_classes: int):
        self.arch, self.feature_dim, self.num_classes = arch, feature_dim, num_classes
        self.base = build(arch, feature_dim, num_classes).eval()
        self.warm: nn.Module | None = None  # θT (while the warmup trains: the model so far)
        self.start: nn.Module | None = None  # θ1, the warmup's first checkpoint
        self.trajectory: nn.Module | None = None  # the gradcos baseline's own copy

    def fingerprint(self) -> str:
        digest = hashlib.sha256(json.dumps([self.arch, self.feature_dim, self.num_classes]).encode())
        for name, tensor in sorted(self.base.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.numpy().tobytes())
        return digest.hexdigest()

    @staticmethod
    def _train(model: nn.Module, rows: pd.DataFrame, lr: float, steps: Steps) -> nn.Module:
        """Train the model on the rows' cross-entropy (Adam)."""
        x, y = _tensors(rows)

        def batch_loss(positions: list[int]) -> torch.Tensor:
            batch = torch.tensor(positions, dtype=torch.long)
            return F.cross_entropy(model(x[batch]), y[batch])

        train(model, torch.optim.Adam(model.parameters(), lr=lr), len(x), steps, batch_loss)
        return model

    def warmup(self, rows, config: WarmupConfig, progress=None, on_step=None) -> None:
        self.warm_key = None  # the θT this adapter held is replaced by one not in the cache (yet)
        self.warm = build(self.arch, self.feature_dim, self.num_classes)

        def keep_first(step: int) -> bool:
            if step == 1:
                self.start = copy.deepcopy(self.warm).eval()
            return bool(on_step(step)) if on_step else False

        steps = Steps(config.steps, config.batch_size, config.seed, progress, keep_first)
        self._train(self.warm, rows, config.lr, steps)

    @torch.inference_mode()
    @torch.inference_mode()
    def losses(self, rows, state: str, batch_size=None, progress=None) -> np.ndarray:
        x, y = _tensors(rows)
        model = {"theta0": self.base, "theta1": self.start, "warm": self.warm}[state]
        step, out = batch_size or 65536, []  # the batches endpoint_losses takes: the same losses, bit for bit
        for offset in range(0, len(x), step):
            out.append(F.cross_entropy(model(x[offset : offset + step]), y[offset : offset + step], reduction="none"))
            if progress:
                progress(len(out[-1]))
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def warm_gradient(self, rows) -> np.ndarray:
        x, y = _tensors(rows)
        params = list(self.warm.parameters())
        with torch.enable_grad():
            grads = torch.autograd.grad(F.cross_entropy(self.warm(x), y), params)
        return torch.cat([g.flatten() for g in grads]).numpy()

    def save_warm(self, directory: str, key: str | None = None) -> None:
        save_file(self.warm.state_dict(), os.path.join(directory, "warm.safetensors"))
        save_file(self.start.state_dict(), os.path.join(directory, "start.safetensors"))
        self.warm_key = key

    def load_warm(self, directory: str, key: str | None = None) -> None:
        loaded = []
        for name in ("warm", "start"):
            model = build(self.arch, self.feature_dim, self.num_classes)
            model.load_state_dict(load_file(os.path.join(directory, f"{name}.safetensors")))
            loaded.append(model.eval())
        self.warm, self.start, self.warm_key = *loaded, key

    @torch.inference_mode()
    def endpoint_losses(self, rows, batch_size=None, progress=None, start: Start = "theta0"):
        x, y = _tensors(rows)
        step = batch_size or 65536
        first = self.base if start == "theta0" else self.start
        base, warm = [], []
        for offset in range(0, len(x), step):
            xb, yb = x[offset : offset + step], y[offset : offset + step]
            base.append(F.cross_entropy(first(xb), yb, reduction="none"))
            warm.append(F.cross_entropy(self.warm(xb), yb, reduction="none"))
            if progress:
                progress(len(xb))
        return torch.cat(base).double().numpy(), torch.cat(warm).double().numpy()

    def embed(self, rows, batch_size=None) -> np.ndarray:
        # A classifier over given features has no representation of its own to pool: RDS+ on
        # feature rows compares the features themselves.
        return np.stack(rows["features"].to_numpy()).astype(np.float32)

    def finetune(self, rows, config: FinetuneConfig, seed: int, name: str, progress=None):
        torch.manual_seed(seed)
        model = build(self.arch, self.feature_dim, self.num_classes)
        return self._train(
            model, rows, config.lr, Steps(config.steps_for(len(rows)), config.batch_size, seed, progress)
        )

    def gradient_model(self, config: WarmupConfig):
        self.trajectory = build(self.arch, self.feature_dim, self.num_classes)
        return list(self.trajectory.named_parameters())

    def prepare(self, rows):
        return _tensors(rows)

    def gradient_loss(self, prepared, index, train):
        x, y = prepared
        self.trajectory.train(train)
        return F.cross_entropy(self.trajectory(x[index]), y[index])

    def drop_gradient_model(self) -> None:
        self.trajectory = None

    @torch.inference_mode()
    def evaluate(self, trained: nn.Module, rows) -> dict[str, float]:
        x, y = _tensors(rows)
        logits = trained(x)
        return {"accuracy": float((logits.argmax(1) == y).float().mean()), "loss": float(F.cross_entropy(logits, y))}
