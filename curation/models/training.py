"""The one training loop every adapter uses (warmups, finetunes, calibration candidates).

A fixed number of optimizer steps over batches drawn without replacement from a seeded
permutation of the rows, reshuffled when it runs out: the same rows, seed and step count give the
same batches on any machine. After each step the caller may look at the model (in eval mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from curation.models.base import OnStep, Progress


@dataclass(frozen=True)
class Steps:
    """How long and in what order to train, and who hears of each step."""

    count: int  # optimizer steps
    batch_size: int
    seed: int  # the batches' order
    progress: Progress | None = None  # called with 1 after each step
    on_step: OnStep | None = None  # called after each step with its number (from 1), the model in eval mode;
    # it returns True to end the training there (the calibration's early stopping)


def train(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    rows: int,
    steps: Steps,
    batch_loss: Callable[[list[int]], torch.Tensor],
) -> None:
    """Train `module` for `steps.count` steps; `batch_loss(positions)` is the mean loss of those rows."""
    generator = torch.Generator().manual_seed(steps.seed)
    module.train()
    order, cursor = torch.randperm(rows, generator=generator).tolist(), 0
    for step in range(1, steps.count + 1):
        if cursor >= len(order):
            order, cursor = torch.randperm(rows, generator=generator).tolist(), 0
        batch = order[cursor : cursor + steps.batch_size]
        cursor += steps.batch_size
        optimizer.zero_grad()
        batch_loss(batch).backward()
        optimizer.step()
        if steps.progress:
            steps.progress(1)
        if steps.on_step:
            module.eval()
            if steps.on_step(step):
                break
            module.train()
    module.eval()
