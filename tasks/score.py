"""Score: the normalized endpoint loss drop of every pool row, (ℓ(θ0,z) − ℓ(θT,z)) / ℓ(θ0,z)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.models import ModelAdapter
from curation.progress import progress_bar

LOSS_EPS = 1e-6  # rows θ0 already predicts perfectly have no room to improve: no division by ~0
METHODS = ("lossdrop", "lossdrop-raw", "random")


def score_formula(loss_base: np.ndarray, loss_warm: np.ndarray, normalize: bool = True,
                  eps: float = LOSS_EPS) -> np.ndarray:
    """Loss drop from θ0 to θT; relative to the base loss unless `normalize` is False."""
    drop = np.asarray(loss_base, dtype=np.float64) - np.asarray(loss_warm, dtype=np.float64)
    return drop / np.maximum(loss_base, eps) if normalize else drop


def score_rows(adapter: ModelAdapter | None, rows: pd.DataFrame, method: str, seed: int,
               batch_size: int | None = None) -> pd.DataFrame:
    """One row per pool row: id, score (higher = more useful), loss_base, loss_warm."""
    if method == "random":
        # A random ranking: scores are uniform draws, so top-k is a uniform random subset.
        rng = np.random.default_rng(seed)
        nan = np.full(len(rows), np.nan)
        return pd.DataFrame({"id": rows["id"].to_numpy(), "score": rng.random(len(rows)),
                             "loss_base": nan, "loss_warm": nan})
    with progress_bar(len(rows), "score") as progress:
        base, warm = adapter.endpoint_losses(rows, batch_size, progress)
    score = score_formula(base, warm, normalize=(method == "lossdrop"))
    return pd.DataFrame({"id": rows["id"].to_numpy(), "score": score,
                         "loss_base": base, "loss_warm": warm})


@task(name="score", tags=["score"], persist_result=False, cache_policy=NO_CACHE)
def score(adapter: ModelAdapter | None, rows: pd.DataFrame, method: str, seed: int,
          batch_size: int | None = None) -> pd.DataFrame:
    """Score every valid pool row (two forward passes per row, no gradients)."""
    return score_rows(adapter, rows, method, seed, batch_size)
