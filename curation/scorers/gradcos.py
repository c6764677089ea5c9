"""gradcos, the LESS-style baseline: gradient similarity along a warmup trajectory on the pool.

LESS (Xia et al. 2024) warms a LoRA model up on a random fraction of the *pool* for a few
epochs, keeps a checkpoint at each epoch's end, and scores a pool row by the cosine similarity
of its Adam-preconditioned, randomly projected gradient with the validation rows' mean
projected gradient, summed over the checkpoints weighted by each epoch's learning rate. That
reference path, trained on the pool rather than on the target, is what lossdrop's warmup on the
validation set avoids; it is kept faithful here so the comparison is fair. Like LESS, it stores
the projected gradients of every pool row (one file per shard, which is also the shard's resume
marker), so what it costs is measured, not guessed.

The trajectory, the per-row gradients and their cache entries are in
curation/scorers/gradcos_gradients.py; this module is the scorer and its stage.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from curation.cache.entry import obtain
from curation.cache.keys import model_identity, shard_key, trajectory_key
from curation.errors import InputError
from curation.hashing import dataset_hash
from curation.models.base import PerRowGradients
from curation.progress import progress_bar
from curation.rows import HASH_COLUMN
from curation.sampling import random_positions
from curation.scorers.base import SCORES_SCHEMA, OwnWarmup, Scored, Scorer, ScoreRequest, lossless_scores, unit_rows
from curation.scorers.gradcos_gradients import (
    Along,
    Checkpoint,
    TensorsAlong,
    Trainable,
    TrajectoryEntry,
    gradcos_scores,
    projected_gradients,
    train_trajectory,
)
from curation.storage import join, size


@dataclass(frozen=True)
class GradcosConfig:
    fraction: float = 0.05  # share of the pool the reference warmup trains on (LESS: 5%)
    min_rows: int = 64  # ...but at least this many rows, so tiny pools still get a trajectory
    epochs: int = 4  # one checkpoint per epoch (LESS: 4)
    dim: int = 512  # random-projection dimension (LESS: 8192, for 7B models)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
