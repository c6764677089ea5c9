"""gradcos's trajectory and per-row gradients (the scorer and its stage: curation/scorers/gradcos.py).

The trajectory is LESS's: Adam with a linear decay to zero on the pool sample, a checkpoint (the
parameters and Adam's moments) at each epoch's end. A row's gradient at a checkpoint is
Adam-preconditioned with that checkpoint's moments (pool rows; validation rows are not, as LESS)
and randomly projected to `dim` dimensions; a row's score sums, over the checkpoints, its cosine
with the validation's mean projected gradient weighted by the epoch's learning rate.

Cache entries (curation.cache), under `<cache>/gradcos/<trajectory key>/`: the trajectory
(`TrajectoryEntry`: `trajectory.safetensors`, each checkpoint's parameters and Adam moments, with
the manifest), then sealed files along it (`TensorsAlong`): `validation-<hash>.safetensors` and
`grads/shard-<shard key>.safetensors` ([rows, checkpoints, dim]). Setting a damaged trajectory
aside takes the gradients along it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from curation.cache.entry import DirectoryEntry, SealedFile, Stored
from curation.cache.integrity import open_safetensors, seal_safetensors
from curation.models import ModelAdapter, WarmupConfig
from curation.scorers.base import unit_rows
from curation.storage import join

BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8  # Adam's, used both to train and to precondition (as LESS)
ROWS_PER_CHUNK = 256  # per-row gradients are projected this many rows at a time: memory stays bounded
BLOCK = 4096  # parameters per block of the projection matrix, regenerated from its seed


@dataclass
class Checkpoint:
    lr: float  # the mean learning rate of the epoch that ended here
    tensors: dict[str, torch.Tensor]  # "param/<name>", "exp_avg/<name>", "exp_avg_sq/<name>"


@dataclass(frozen=True)
class Trainable:
    """The model gradcos trains and differentiates: the adapter and the parameters it exposes for that."""

    adapter: ModelAdapter
    params: list[tuple[str, torch.Tensor]]


@dataclass(frozen=True)
class Along:
    """Where per-row gradients are taken: the trajectory's checkpoints, and the projection's dimension."""

    checkpoints: list[Checkpoint]
    dim: int


# --- the trajectory ---------------------------------------------------------------------------
def train_trajectory(
    model: Trainable, rows: pd.DataFrame, warm: WarmupConfig, epochs: int, progress=None
) -> list[Checkpoint]:
    """Adam with a linear decay to zero (LESS's schedule), a checkpoint at each epoch's end."""
    adapter, params = model.adapter, model.params
    data = adapter.prepare(rows)
    per_epoch = math.ceil(len(rows) / warm.batch_size)
    optimizer = torch.optim.Adam([p for _, p in params], lr=warm.lr, betas=(BETA1, BETA2), eps=ADAM_EPS)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / (epochs * per_epoch))
    generator = torch.Generator().manual_seed(warm.seed)
    checkpoints = []
    for _ in range(epochs):
        order, lrs = torch.randperm(len(rows), generator=generator).tolist(), []
        for start in range(0, len(rows), warm.batch_size):
            lrs.append(optimizer.param_groups[0]["lr"])
            loss = adapter.gradient_loss(data, order[start : start + warm.batch_size], train=True)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            if progress:
                progress(1)
        tensors = {}
        for name, p in params:
            state = optimizer.state[p]
            tensors.update(
                {
                    f"param/{name}": p.detach().clone(),
                    f"exp_avg/{name}": state["exp_avg"].clone(),
                    f"exp_avg_sq/{name}": state["exp_avg_sq"].clone(),
                }
            )
        checkpoints.append(Checkpoint(float(np.mean(lrs)), tensors))
    return checkpoints


def save_trajectory(checkpoints: list[Checkpoint]) -> bytes:
    flat = {f"{i}/{name}": t.contiguous().cpu() for i, c in enumerate(checkpoints) for name, t in c.tensors.items()}
    return seal_safetensors(flat)  # the learning rates go in the manifest, written after this file


def load_trajectory(data: bytes, lrs: list[float], url: str = "trajectory") -> list[Checkpoint]:
    flat = open_safetensors(data, url)
    return [
        Checkpoint(lr, {name.split("/", 1)[1]: t for name, t in flat.items() if name.split("/", 1)[0] == str(i)})
        for i, lr in enumerate(lrs)
    ]


# --- projected per-row gradients --------------------------------------------------------------
def project(vectors: torch.Tensor, dim: int, seed: int) -> torch.Tensor:
    """A Rademacher random projection [rows, D] → [rows, dim], generated block by block from the
    seed, so the same D gives the same matrix and no D × dim matrix is ever held whole."""
    out = torch.zeros(vectors.shape[0], dim, dtype=torch.float32)
    for start in range(0, vectors.shape[1], BLOCK):
        block = vectors[:, start : start + BLOCK].float()
        generator = torch.Generator().manual_seed(seed * 1_000_003 + start)
        signs = torch.randint(0, 2, (block.shape[1], dim), generator=generator).float() * 2 - 1
        out += block @ signs
    return out / math.sqrt(dim)


def projected_gradients(model: Trainable, rows: pd.DataFrame, along: Along, adam: bool, progress=None) -> torch.Tensor:
    """[rows, checkpoints, dim]: each row's gradient at each checkpoint, Adam-preconditioned with
    that checkpoint's moments when `adam` (LESS does so for pool rows, not for validation rows)."""
    adapter, params, checkpoints, dim = model.adapter, model.params, along.checkpoints, along.dim
    data = adapter.prepare(rows)
    out = torch.zeros(len(rows), len(checkpoints), dim)
    for c, checkpoint in enumerate(checkpoints):
        with torch.no_grad():
            for name, p in params:
                p.copy_(checkpoint.tensors[f"param/{name}"])
        # Preconditioning and projection run on the CPU, where the gradients are gathered.
        exp_avg = torch.cat([checkpoint.tensors[f"exp_avg/{n}"].reshape(-1) for n, _ in params]).float().cpu()
        exp_avg_sq = torch.cat([checkpoint.tensors[f"exp_avg_sq/{n}"].reshape(-1) for n, _ in params]).float().cpu()
        for start in range(0, len(rows), ROWS_PER_CHUNK):
            grads = []
            for i in range(start, min(start + ROWS_PER_CHUNK, len(rows))):
                loss = adapter.gradient_loss(data, [i], train=False)
                grad = torch.autograd.grad(loss, [p for _, p in params])
                grads.append(torch.cat([g.reshape(-1) for g in grad]).float().cpu())
            chunk = torch.stack(grads)
            if adam:  # LESS's update direction: one more Adam step's m / sqrt(v), no bias correction
                m = BETA1 * exp_avg + (1 - BETA1) * chunk
                v = BETA2 * exp_avg_sq + (1 - BETA2) * chunk**2
                chunk = m / torch.sqrt(v + ADAM_EPS)
            out[start : start + len(chunk), c] = project(chunk, dim, seed=0)
            if progress:
                progress(len(chunk))
    return out


def gradcos_scores(features: torch.Tensor, reference: torch.Tensor, lrs: list[float]) -> np.ndarray:
    """Σ_checkpoints lr · cos(row's projected gradient, validation's mean projected gradient)."""
    cosines = (unit_rows(features.numpy()) * unit_rows(reference.numpy())[None]).sum(-1)  # [rows, checkpoints]
    return cosines.astype(np.float64) @ np.asarray(lrs, dtype=np.float64)


# --- the cache entries -----------------------------------------------------------------------
TRAJECTORY = "trajectory.safetensors"


@dataclass(frozen=True)
class TrajectoryEntry(DirectoryEntry[list[Checkpoint]]):
    """The warmup trajectory on the pool sample; `train` trains it when the cache has none."""

    trajectory: str  # curation.cache.keys.trajectory_key
    train: Callable[[], list[Checkpoint]]
    about: dict[str, Any] = field(default_factory=dict)  # steps, sample rows, settings: kept in the manifest
    folder = "gradcos"
    what = "gradcos trajectory"

    @property
    def key(self) -> str:
        return self.trajectory

    def build(self, local: str) -> dict[str, Any]:
        checkpoints = self.train()
        with open(f"{local}/{TRAJECTORY}", "wb") as handle:
            handle.write(save_trajectory(checkpoints))
        return {"lrs": [c.lr for c in checkpoints], **self.about}

    def open(self, stored: Stored, built: bool) -> list[Checkpoint]:
        return load_trajectory(stored.read(TRAJECTORY), stored.facts["lrs"], join(stored.url, TRAJECTORY))


@dataclass(frozen=True)
class TensorsAlong(SealedFile[dict]):
    """A sealed safetensors file computed along a trajectory (the validation's mean gradient, a shard's gradients)."""

    trajectory: str
    name: str  # under the trajectory's folder
    make: Callable[[], dict[str, torch.Tensor]]
    folder = "gradcos"
    what = "gradcos gradients"

    @property
    def key(self) -> str:
        return f"{self.trajectory}/{self.name}"

    def build(self) -> bytes:
        return seal_safetensors(self.make())

    def open(self, data: bytes, url: str) -> dict:
        return open_safetensors(data, url)
