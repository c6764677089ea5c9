"""The one interface every model adapter implements, and the configs it takes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from curation.config import Scope, Start

Progress = Callable[[int], None]  # called with the number of rows (or steps) just finished
OnStep = Callable[[int], bool | None]  # after each warmup step, its number (from 1), the model in eval mode: True stops


@dataclass(frozen=True)
class ModelSpec:
    """Which model a process loads and how it reads the rows, as plain data (it travels to workers):
    `--model`, what the validation set fixed (feature length, classes, row format), the token limit
    and the spans of chat rows the loss (`--loss-on`) and the score (`--score-on`) cover."""

    model: str
    feature_dim: int | None = None
    num_classes: int | None = None
    max_length: int = 256
    row_format: str | None = None
    loss_on: str = "all-assistant"
    score_on: str = "all-assistant"
    truncation: str = "keep-answer"

    @classmethod
    def of(cls, config, target) -> ModelSpec:
        """The spec of a run: its settings (`CurationSettings`) and its checked target (`Target`)."""
        ref = target.ref
        return cls(
            config.model,
            feature_dim=ref.feature_dim,
            num_classes=target.num_classes,
            max_length=config.max_length,
            row_format=ref.format,
            loss_on=config.loss_on,
            score_on=config.score_on,
            truncation=config.truncation,
        )


@dataclass(frozen=True)
class WarmupConfig:
    """The short, capacity-limited fine-tune on the validation set (θ0 → θ1 → … → θT).

    θ1 is the model after the first step (the seed paper's first checkpoint); both it and θT are
    kept, so either can be the score's start point. `scope` is what a causal LM trains: LoRA on
    the attention projections, LoRA on every linear layer (`wide`), or the parameters themselves
    (`full`: all of them, or the top blocks only of a large model). A classifier always trains
    all its weights.
    """

    steps: int = 40  # optimizer steps; few on purpose: a direction, not a fit
    lr: float = 5e-3
    batch_size: int = 16
    lora_rank: int = 4  # LoRA scopes: small rank limits capacity
    lora_alpha: int = 8
    scope: Scope = "attention"
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FinetuneConfig:
    """Training of θ0 on a selection (and on the random control)."""

    epochs: int = 3
    lr: float = 2e-3
    batch_size: int = 16
    lora_rank: int = 16
    max_steps: int | None = None

    def steps_for(self, n_rows: int) -> int:
        """Optimizer steps for a training set of n_rows: epochs over it, or max_steps if set."""
        return self.max_steps or self.epochs * max(1, -(-n_rows // self.batch_size))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelAdapter(ABC):
    """Per-row losses in batches, warmup, finetune, save/load: all a stage needs of a model."""

    kind: str  # "features" or "text"
    metric: str  # the evaluation metric finetunes are compared on
    higher_is_better: bool
    gpus: int = 0  # GPUs a process scoring with this model uses (a shard job's resources)
    parameters: int = 0  # θ0's parameter count (the calibration's grid depends on it on a CPU)
    # The cache key of the θT this adapter holds, set by the adapter itself when it saves or loads
    # one under its key (`save_warm`, `load_warm`); None: no θT, or one not in the cache (a
    # calibration fold's). A scoring worker compares it with its job's key before loading.
    warm_key: str | None = None

    @abstractmethod
    def fingerprint(self) -> str:
        """A content hash of θ0 (architecture and weights): part of the warmup cache key."""

    def loss_settings(self) -> dict[str, Any]:
        """Settings besides θ0's files that change a row's loss (max length, dtype, ...): in every cache key."""
        return {}

    @abstractmethod
    def warmup(
        self, rows: pd.DataFrame, config: WarmupConfig, progress: Progress | None = None, on_step: OnStep | None = None
    ) -> None:
        """Train θT from θ0 on the validation rows, keeping θ1 (θ0 stays available).

        While it trains, `on_step` may call `endpoint_losses`: θT is then the model as trained so far; it
        returns True to end the training at that step.
        """

    @abstractmethod
    def save_warm(self, directory: str, key: str | None = None) -> None:
        """Write θT under a local directory as safetensors (+ JSON config); it is then the cache's θT `key`."""

    @abstractmethod
    def load_warm(self, directory: str, key: str | None = None) -> None:
        """Load θT written by save_warm (the cache's θT `key`)."""

    @abstractmethod
    def endpoint_losses(
        self,
        rows: pd.DataFrame,
        batch_size: int | None = None,
        progress: Progress | None = None,
        start: Start = "theta0",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-row losses under the start point (θ0 or θ1) and θT: both passes per batch, no gradients."""

    @abstractmethod
    def losses(
        self, rows: pd.DataFrame, state: str, batch_size: int | None = None, progress: Progress | None = None
    ) -> np.ndarray:
        """Per-row losses under one state: `theta0`, `theta1` or `warm` (θT, or the model as trained so far),
        batched as `endpoint_losses` batches them (so each row's loss is the same, bit for bit)."""

    def warm_gradient(self, rows: pd.DataFrame) -> np.ndarray:
        """The gradient of the mean loss over rows w.r.t. what the warmup trains, at θT as trained so far
        (the calibration's `gradient` criterion), flattened."""
        raise NotImplementedError(f"{type(self).__name__} has no warmup gradient")

    @abstractmethod
    def embed(self, rows: pd.DataFrame, batch_size: int | None = None) -> np.ndarray:
        """One vector per row from θ0 (the `embedding` baseline): float32, [rows, dim]."""

    @abstractmethod
    def finetune(
        self, rows: pd.DataFrame, config: FinetuneConfig, seed: int, name: str, progress: Progress | None = None
    ) -> Any:
        """Train θ0 on rows; returns a handle that `evaluate` takes."""

    @abstractmethod
    def evaluate(self, trained: Any, rows: pd.DataFrame) -> dict[str, float]:
        """Metrics of a finetuned model on held-out target rows; includes `self.metric`."""

    def release(self, trained: Any) -> None:
        """Free what a finetune holds (adapters, tensors) once it is evaluated."""


@runtime_checkable
class PerRowGradients(Protocol):
    """What the `gradcos` baseline (curation/scorers/gradcos.py) needs of a model, apart from the
    adapter interface: a copy of its own to train along a trajectory, and per-row gradients of it.
    Adapters that support it declare it (both here do); gradcos refuses a model that does not."""

    def gradient_model(self, config: WarmupConfig) -> list[tuple[str, Any]]:
        """Fresh trainable parameters at θ0 (LoRA of `config`'s rank, or the classifier's weights)."""

    def prepare(self, rows: pd.DataFrame) -> Any:
        """Rows in the form `gradient_loss` indexes (tensors, token ids)."""

    def gradient_loss(self, prepared: Any, index: list[int], train: bool) -> Any:
        """Mean loss of the rows at `index` under the gradient model's current parameters."""

    def drop_gradient_model(self) -> None:
        """Free the gradient model."""


# Defaults per row kind: a classifier warms up on a few full passes over V; a causal LM takes
# a few dozen small LoRA steps. Finetunes run a few epochs over the selection.
WARMUP_DEFAULTS = {
    "features": WarmupConfig(steps=60, lr=0.05, batch_size=64),
    "text": WarmupConfig(steps=80, lr=1e-2, batch_size=8, lora_rank=8, lora_alpha=16, scope="attention"),
}
FINETUNE_DEFAULTS = {
    "features": FinetuneConfig(epochs=30, lr=0.02, batch_size=32),
    "text": FinetuneConfig(epochs=2, lr=3e-3, batch_size=8, lora_rank=16),
}
