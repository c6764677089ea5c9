"""gradcos, the LESS-style baseline: gradient similarity along a warmup trajectory on the pool.

LESS (Xia et al. 2024) warms a LoRA model up on a random fraction of the *pool* for a few
epochs, keeps a checkpoint at each epoch's end, and scores a pool row by the cosine similarity
of its Adam-preconditioned, randomly projected gradient with the validation rows' mean
projected gradient, summed over the checkpoints weighted by each epoch's learning rate. That
reference path, trained on the pool rather than on the target, is what lossdrop's warmup on the
validation set avoids; it is kept faithful here so the comparison is fair. Like LESS, it stores
the projected gradients of every pool row (one file per shard, which is also the shard's resume
marker), so what it costs is measured, not guessed.

Cache entries (curation.cache), under `<cache>/gradcos/<trajectory key>/`: the trajectory
(`trajectory.safetensors`, each checkpoint's parameters and Adam moments, with the manifest), then
sealed files along it: `validation-<hash>.safetensors` and `grads/shard-<shard key>.safetensors`
([rows, checkpoints, dim]). Setting a damaged trajectory aside takes the gradients along it too.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from curation.cache.entry import DirectoryEntry, SealedFile, Stored, obtain
from curation.cache.integrity import open_safetensors, seal_safetensors
from curation.cache.keys import model_identity, shard_key, trajectory_key
from curation.errors import InputError
from curation.hashing import dataset_hash
from curation.models import ModelAdapter, WarmupConfig
from curation.models.base import PerRowGradients
from curation.progress import progress_bar
from curation.rows import HASH_COLUMN
from curation.sampling import random_positions
from curation.scorers.base import SCORES_SCHEMA, OwnWarmup, Scored, Scorer, ScoreRequest, lossless_scores, unit_rows
from curation.storage import join, size

BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8  # Adam's, used both to train and to precondition (as LESS)
ROWS_PER_CHUNK = 256  # per-row gradients are projected this many rows at a time: memory stays bounded
BLOCK = 4096  # parameters per block of the projection matrix, regenerated from its seed


@dataclass(frozen=True)
class GradcosConfig:
    fraction: float = 0.05  # share of the pool the reference warmup trains on (LESS: 5%)
    min_rows: int = 64  # ...but at least this many rows, so tiny pools still get a trajectory
    epochs: int = 4  # one checkpoint per epoch (LESS: 4)
    dim: int = 512  # random-projection dimension (LESS: 8192, for 7B models)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _tensors(entry: TensorsAlong, cache: str, cost: dict) -> tuple[dict[str, torch.Tensor], bool]:
    """The entry's tensors, and whether they were made here."""
    found = obtain(entry, cache)
    cost["damaged"] += found.damaged
    return found.value, found.status == "miss"


# --- the stage --------------------------------------------------------------------------------
def write_gradcos_scores(request: ScoreRequest, config: GradcosConfig) -> tuple[np.ndarray, dict]:
    """Score the pool LESS-style into scores.parquet; return the scores and what it cost."""
    adapter, checked, validation, warm = request.adapter, request.pool, request.target.warm_rows, request.warmup
    cache, path, seed = request.settings.cache, request.path, request.settings.seed
    n_sample = min(checked.valid_rows, max(config.min_rows, math.ceil(config.fraction * checked.valid_rows)))
    sample = checked.take(random_positions(checked.valid_rows, n_sample, seed))
    key = trajectory_key(dataset_hash(sample[HASH_COLUMN]), model_identity(adapter), warm.as_dict(), config.as_dict())
    root = join(cache, "gradcos", key)
    cost = {
        "trajectory": "hit",
        "warmup_steps": 0,
        "warmup_seconds": 0.0,
        "forward_passes": 0,
        "rows_scored": 0,
        "rows_reused": 0,
        "sample_rows": n_sample,
        "damaged": 0,
    }
    model = Trainable(adapter, adapter.gradient_model(warm))
    steps = config.epochs * math.ceil(n_sample / warm.batch_size)

    def train() -> list[Checkpoint]:
        started = time.perf_counter()
        with progress_bar(steps, "gradcos warmup on the pool sample", unit="step") as progress:
            trained = train_trajectory(model, sample, warm, config.epochs, progress)
        cost.update(trajectory="miss", warmup_steps=steps, warmup_seconds=time.perf_counter() - started)
        return trained

    try:
        about = {"steps": steps, "sample_rows": n_sample, "config": config.as_dict()}
        found = obtain(TrajectoryEntry(key, train, about), cache)
        checkpoints, cost["damaged"] = found.value, found.damaged
        lrs, n_ckpt, along = [c.lr for c in checkpoints], len(checkpoints), Along(checkpoints, config.dim)

        def reference_of():
            grads = projected_gradients(model, validation, along, adam=False)
            return {"mean_unit_gradient": torch.from_numpy(unit_rows(grads.numpy()).mean(0))}  # [checkpoints, dim]

        reference_name = f"validation-{dataset_hash(validation[HASH_COLUMN])[:32]}.safetensors"
        reference_url = join(root, reference_name)
        reference, made = _tensors(TensorsAlong(key, reference_name, reference_of), cache, cost)
        cost["forward_passes"] += len(validation) * n_ckpt if made else 0
        urls, scores = [reference_url], []
        with (
            pq.ParquetWriter(path, SCORES_SCHEMA) as writer,
            progress_bar(checked.valid_rows * n_ckpt, "gradcos per-row gradients") as progress,
        ):
            for part in checked.valid_parts:
                rows = pq.read_table(part).to_pandas()
                name = f"grads/shard-{shard_key(rows[HASH_COLUMN])}.safetensors"
                urls.append(join(root, name))

                def gradients(rows=rows) -> dict[str, torch.Tensor]:
                    grads = projected_gradients(model, rows, along, adam=True, progress=progress)
                    return {"gradients": grads}

                shard, made = _tensors(TensorsAlong(key, name, gradients), cache, cost)
                cost["rows_scored" if made else "rows_reused"] += len(rows)
                cost["forward_passes"] += len(rows) * n_ckpt if made else 0
                if not made:
                    progress(len(rows) * n_ckpt)
                score = gradcos_scores(shard["gradients"], reference["mean_unit_gradient"], lrs)
                writer.write_table(lossless_scores(rows["id"], score))
                scores.append(score)
    finally:
        adapter.drop_gradient_model()
    cost["bytes_stored"] = sum(size(url) for url in urls)
    return (np.concatenate(scores) if scores else np.empty(0)), cost


class GradCos(Scorer):
    """A forward and a backward pass per row and checkpoint, in the flow's process whatever the engine."""

    def score(self, request: ScoreRequest) -> Scored:
        if not isinstance(request.adapter, PerRowGradients):
            raise InputError(
                f"--method gradcos needs per-row gradients, which {type(request.adapter).__name__} does not give",
                field="--method",
                hint="choose another method for this model",
            )
        settings = request.settings
        config = GradcosConfig(fraction=settings.gradcos_fraction, dim=settings.projection_dim)
        scores, cost = write_gradcos_scores(request, config)
        return Scored(
            scores,
            cost["rows_scored"],
            cost["rows_reused"],
            bytes_stored=cost["bytes_stored"],
            damaged=cost["damaged"],
            forward_passes=cost["forward_passes"],
            backward_passes=cost["forward_passes"],
            own_warmup=OwnWarmup(cost["trajectory"], cost["warmup_steps"], cost["warmup_seconds"], config.as_dict()),
        )
