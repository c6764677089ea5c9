"""The calibration's grid, sized to what the model costs on its device.

A grid's cost is counted in forward passes of one validation-length row: θ0's losses and
embeddings of the validation and reference rows, then per arm and fold the training steps (a
step of `b` rows ≈ 3b passes: forward and backward) and, at each step count, the judge (the held-out
fold and the reference). One pass costs 2 × parameters × tokens FLOPs at the device's nominal rate
(`FLOPS`); the largest grid of the row kind's ladder whose whole cost — every candidate judged, as
if the race (curation.racing) cut nothing — fits `BUDGET_S` is the one calibrated. The ladder's
last grid is taken when none fits.

The rate is nominal, not timed on each run, on purpose: a grid timed per run would depend on the
machine's load, and the same inputs would then calibrate differently on a busy machine. CPU: the
SmolLM2-135M forward on this project's 2-core machine, 0.22 s for a 128-token row (1.6e11 FLOP/s,
8e10 per thread); CUDA: 2e14 (bf16, well under an H100's peak). Measured on SmolLM2-135M-Instruct,
2 cores (benchmarks/RESULTS.md, "A calibration that prunes"): the `text-large-cpu` grid's cost
estimate is 517 s where it took 514 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class Grid:
    """Candidates: each (scope, lr) arm is trained once per fold and judged at every step count.
    A grid for an expensive model also caps the folds, the reference rows and the batch size."""

    arms: tuple[tuple[str, float], ...]
    steps: tuple[int, ...]
    name: str = "custom"
    max_folds: int | None = None
    max_reference: int | None = None
    batch_size: int | None = None  # of the candidates and of θT (None: the warmup's default)

    def as_dict(self) -> dict[str, Any]:
        caps = {"max_folds": self.max_folds, "max_reference": self.max_reference, "batch_size": self.batch_size}
        return {"name": self.name, "arms": [list(arm) for arm in self.arms], "steps": list(self.steps), **caps}

    @classmethod
    def fixed(cls, config) -> Grid:
        """The one candidate a fixed warmup (`config`: a WarmupConfig) is: judged on the folds all the same
        when `--method auto` needs the loss drop's held-out figure."""
        return cls(arms=((config.scope, config.lr),), steps=(config.steps,), name="fixed")

    def passes(self, validation: int, reference: int, folds: int) -> float:
        """Forward passes of a validation-length row this grid costs with nothing raced away."""
        folds = min(folds, self.max_folds or folds)
        reference = min(reference, self.max_reference or reference)
        per_fold = max(self.steps) * (self.batch_size or 16) * 3 + len(self.steps) * (validation / folds + reference)
        return 2 * (validation + reference) + folds * len(self.arms) * per_fold


# Text: LoRA learning rates an order above full-parameter ones (a LoRA update is scaled by alpha/rank and starts from
# B = 0). The smaller grids keep LoRA on the attention projections only (AdamW over every weight costs the most per
# step) at the learning rates and step counts SmolLM2's calibrations chose (benchmarks/RESULTS.md: lr 1e-3, 4 steps on
# every ShareGPT seed; every lr-1e-2 candidate at or below chance). Classifiers always train all their weights.
GRIDS = {
    "text": Grid(
        arms=(("attention", 1e-2), ("wide", 1e-2), ("full", 3e-4), ("full", 1e-3), ("full", 3e-3)),
        steps=(5, 10, 20, 40),
        name="text",
    ),
    "text-large-cpu": Grid(
        arms=(("attention", 1e-3), ("attention", 1e-2)),
        steps=(4, 8, 12),
        name="text-large-cpu",
        max_folds=2,
        max_reference=64,
        batch_size=8,
    ),
    "text-lean": Grid(
        arms=(("attention", 1e-3),), steps=(2, 4), name="text-lean", max_folds=2, max_reference=48, batch_size=8
    ),
    "features": Grid(arms=(("full", 0.01), ("full", 0.05), ("full", 0.2)), steps=(15, 30, 60, 120), name="features"),
}
LADDER = {"text": ("text", "text-large-cpu", "text-lean"), "features": ("features",)}
BUDGET_S = 150.0  # seconds of a fresh calibration's estimated passes
FLOPS = {"cpu": 8e10, "cuda": 2e14}  # per CPU thread; per GPU
FOLDS, REFERENCE = 3, 128  # the settings' defaults (a run's own are capped by the grid chosen)


def forward_seconds(adapter, rows: pd.DataFrame) -> float:
    """One forward pass of a validation row, by the nominal rate: 2 × parameters × its mean tokens."""
    tokens = float(np.mean([len(ids) for ids, _ in adapter.encode(rows, scoring=True)])) if len(rows) else 0.0
    rate = FLOPS["cuda"] * adapter.gpus if adapter.gpus else FLOPS["cpu"] * torch.get_num_threads()
    return 2.0 * adapter.parameters * tokens / rate


def grid_for(adapter, rows: pd.DataFrame) -> Grid:
    """The calibration's grid for this model and validation set: the largest of its kind's ladder that fits
    the budget on its device (a classifier's one grid)."""
    ladder = [GRIDS[name] for name in LADDER[adapter.kind]]
    if len(ladder) == 1:
        return ladder[0]
    seconds = forward_seconds(adapter, rows)
    return next((g for g in ladder if g.passes(len(rows), REFERENCE, FOLDS) * seconds <= BUDGET_S), ladder[-1])
