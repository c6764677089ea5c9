"""Score: the normalized endpoint loss drop of every pool row, (ℓ(θ0,z) − ℓ(θT,z)) / ℓ(θ0,z).

Shards (the Parquet parts the validate step spilled) are the unit of work, caching and resume:
each scored shard's losses are written to the per-row score cache before the next is counted
done, so a crashed run loses at most the shards in flight, and rows seen by an earlier pool
under the same θT are not scored again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.models import ModelAdapter
from curation.progress import progress_bar
from curation.rows import HASH_COLUMN
from curation.score_cache import RowScoreCache, shard_key

LOSS_EPS = 1e-6  # rows θ0 already predicts perfectly have no room to improve: no division by ~0
METHODS = ("lossdrop", "lossdrop-raw", "random")


def score_formula(loss_base: np.ndarray, loss_warm: np.ndarray, normalize: bool = True,
                  eps: float = LOSS_EPS) -> np.ndarray:
    """Loss drop from θ0 to θT; relative to the base loss unless `normalize` is False."""
    drop = np.asarray(loss_base, dtype=np.float64) - np.asarray(loss_warm, dtype=np.float64)
    return drop / np.maximum(loss_base, eps) if normalize else drop


@dataclass
class ShardScores:
    """One shard's row ids with their endpoint losses, and what it cost."""

    losses: pd.DataFrame
    scored: int
    reused: int
    seconds: float


def score_shard(adapter: ModelAdapter, part: str, cache: RowScoreCache, batch_size: int | None = None,
                name: str = "score") -> ShardScores:
    """Endpoint losses of one shard: reuse a finished shard or cached rows, score the rest."""
    started = time.perf_counter()
    rows = pq.read_table(part).to_pandas()
    key = shard_key(rows[HASH_COLUMN])
    known = cache.finished_shard(key)
    if known is None:
        known = cache.known_rows(rows[HASH_COLUMN])
        todo = rows[~rows[HASH_COLUMN].isin(known[HASH_COLUMN])]
        if len(todo):
            with progress_bar(len(todo), name) as progress:
                base, warm = adapter.endpoint_losses(todo, batch_size, progress)
            fresh = pd.DataFrame({HASH_COLUMN: todo[HASH_COLUMN].to_numpy(), "loss_base": base, "loss_warm": warm})
            known = pd.concat([known, fresh], ignore_index=True) if len(known) else fresh
        cache.store_shard(key, known)  # the shard's completion marker
        scored = len(todo)
    else:
        scored = 0
    aligned = known.set_index(HASH_COLUMN).reindex(rows[HASH_COLUMN].to_numpy())
    losses = pd.DataFrame({"id": rows["id"].to_numpy(), "loss_base": aligned["loss_base"].to_numpy(),
                           "loss_warm": aligned["loss_warm"].to_numpy()})
    return ShardScores(losses, scored, len(rows) - scored, time.perf_counter() - started)


def read_back(parts: list[str], cache: RowScoreCache, counts: list[tuple[int, ...]]) -> list[ShardScores]:
    """Shard results of another engine, read back from the row-score cache they were written to."""
    shards = []
    for part, (scored, reused, *_) in zip(parts, counts):
        rows = pq.read_table(part, columns=["id", HASH_COLUMN]).to_pandas()
        aligned = cache.finished_shard(shard_key(rows[HASH_COLUMN])).set_index(HASH_COLUMN) \
            .reindex(rows[HASH_COLUMN].to_numpy())
        shards.append(ShardScores(pd.DataFrame({"id": rows["id"].to_numpy(),
                                                "loss_base": aligned["loss_base"].to_numpy(),
                                                "loss_warm": aligned["loss_warm"].to_numpy()}),
                                  scored, reused, 0.0))
    return shards


def assemble(shards: list[ShardScores], method: str) -> pd.DataFrame:
    """scores.parquet's frame: id, score (higher = more useful), loss_base, loss_warm."""
    losses = pd.concat([s.losses for s in shards], ignore_index=True)
    score = score_formula(losses["loss_base"].to_numpy(), losses["loss_warm"].to_numpy(),
                          normalize=(method == "lossdrop"))
    return pd.DataFrame({"id": losses["id"].to_numpy(), "score": score,
                         "loss_base": losses["loss_base"].to_numpy(), "loss_warm": losses["loss_warm"].to_numpy()})


def random_scores(ids: np.ndarray, seed: int) -> pd.DataFrame:
    """A random ranking: scores are uniform draws, so top-k is a uniform random subset."""
    nan = np.full(len(ids), np.nan)
    return pd.DataFrame({"id": ids, "score": np.random.default_rng(seed).random(len(ids)),
                         "loss_base": nan, "loss_warm": nan})


def score_rows(adapter: ModelAdapter, rows: pd.DataFrame, method: str) -> pd.DataFrame:
    """Score rows held in memory (no shards, no cache): for tests and small, one-off uses."""
    with progress_bar(len(rows), "score") as progress:
        base, warm = adapter.endpoint_losses(rows, None, progress)
    losses = pd.DataFrame({"id": rows["id"].to_numpy(), "loss_base": base, "loss_warm": warm})
    return assemble([ShardScores(losses, len(rows), 0, 0.0)], method)


@task(name="score-shard", tags=["score"], persist_result=False, cache_policy=NO_CACHE,
      task_run_name="score-shard-{index}")
def score_shard_task(adapter: ModelAdapter, part: str, cache: RowScoreCache, index: int,
                     batch_size: int | None = None) -> ShardScores:
    """Score one shard of the pool (two forward passes per new row, no gradients)."""
    return score_shard(adapter, part, cache, batch_size, name=f"score shard {index}")
