"""Score: the normalized endpoint loss drop of every pool row, (ℓ(θ0,z) − ℓ(θT,z)) / ℓ(θ0,z).

Shards (the Parquet parts the validate step spilled) are the unit of work, caching and resume:
each scored shard's losses are written to the per-row score cache before the next is counted
done, so a crashed run loses at most the shards in flight, and rows seen by an earlier pool
under the same θT are not scored again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.models import ModelAdapter
from curation.progress import progress_bar
from curation.rows import HASH_COLUMN
from curation.score_cache import RowScoreCache, shard_key

SCORES_SCHEMA = pa.schema([("id", pa.string()), ("score", pa.float64()), ("loss_base", pa.float64()),
                           ("loss_warm", pa.float64())])
LOSS_EPS = 1e-6  # rows θ0 already predicts perfectly have no room to improve: no division by ~0
METHODS = ("lossdrop", "lossdrop-raw", "embedding", "gradcos", "random")
SIMILARITIES = ("max", "mean")  # how the `embedding` baseline reduces a row's similarities to V


def score_formula(loss_base: np.ndarray, loss_warm: np.ndarray, normalize: bool = True,
                  eps: float = LOSS_EPS) -> np.ndarray:
    """Loss drop from θ0 to θT; relative to the base loss unless `normalize` is False."""
    drop = np.asarray(loss_base, dtype=np.float64) - np.asarray(loss_warm, dtype=np.float64)
    return drop / np.maximum(loss_base, eps) if normalize else drop


def score_shard(adapter: ModelAdapter, part: str, cache: RowScoreCache, batch_size: int | None = None,
                name: str = "score") -> tuple[int, int, int]:
    """Put one shard's endpoint losses in the row-score cache, scoring only rows it lacks.

    Returns (rows scored, rows reused, damaged cache files set aside). A shard finished before
    (this pool's earlier run or an identical shard of another pool) costs one verified read.
    """
    hashes = pq.read_table(part, columns=[HASH_COLUMN]).column(HASH_COLUMN).to_pandas()
    key = shard_key(hashes)
    finished, damaged = cache.read_shard(key)
    if finished is not None:
        return 0, len(hashes), damaged
    rows = pq.read_table(part).to_pandas()
    known, bad = cache.known_rows(rows[HASH_COLUMN])
    damaged += bad
    todo = rows[~rows[HASH_COLUMN].isin(known[HASH_COLUMN])]
    if len(todo):
        with progress_bar(len(todo), name) as progress:
            base, warm = adapter.endpoint_losses(todo, batch_size, progress)
        fresh = pd.DataFrame({HASH_COLUMN: todo[HASH_COLUMN].to_numpy(), "loss_base": base, "loss_warm": warm})
        known = pd.concat([known, fresh], ignore_index=True) if len(known) else fresh
    in_order = known.set_index(HASH_COLUMN).reindex(rows[HASH_COLUMN].to_numpy()).reset_index()
    cache.store_shard(key, in_order)  # the shard's completion marker
    return len(todo), len(rows) - len(todo), damaged


def write_scores(parts: list[str], cache: RowScoreCache, method: str, path: str) -> tuple[np.ndarray, int]:
    """Stream scores.parquet (id, score, loss_base, loss_warm) to a local file, shard by shard;
    return the scores and the bytes the pool's losses take in the row-score cache.

    The losses come back from the row-score cache whichever engine wrote them; only the score
    column stays in memory (8 bytes a row) for the selection.
    """
    scores, stored = [], 0
    with pq.ParquetWriter(path, SCORES_SCHEMA) as writer:
        for part in parts:
            rows = pq.read_table(part, columns=["id", HASH_COLUMN]).to_pandas()
            key = shard_key(rows[HASH_COLUMN])
            losses, _ = cache.read_shard(key)
            if losses is None:  # removed or damaged since it was scored, moments ago
                raise RuntimeError(f"the row-score cache lost shard {key} while the scores were written; run again")
            stored += cache.shard_bytes(key)
            base, warm = losses["loss_base"].to_numpy(), losses["loss_warm"].to_numpy()
            score = score_formula(base, warm, normalize=(method == "lossdrop"))
            writer.write_table(pa.table({"id": rows["id"].astype(str).to_numpy(), "score": score,
                                         "loss_base": base, "loss_warm": warm}, schema=SCORES_SCHEMA))
            scores.append(score)
    return (np.concatenate(scores) if scores else np.empty(0)), stored


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Vectors (along the last axis) scaled to length 1 (zero ones stay zero): dot products are cosines."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def lossless_scores(ids, score: np.ndarray) -> pa.Table:
    """A scores.parquet table for a method that computes no endpoint losses (they are NaN)."""
    nan = np.full(len(score), np.nan)
    return pa.table({"id": pa.array(np.asarray(ids).astype(str), pa.string()), "score": score,
                     "loss_base": nan, "loss_warm": nan}, schema=SCORES_SCHEMA)


def similarity_scores(pool: np.ndarray, validation_unit: np.ndarray, reduce: str) -> np.ndarray:
    """Each pool row's max or mean cosine similarity to the validation rows."""
    cosines = unit_rows(pool) @ validation_unit.T
    return (cosines.max(1) if reduce == "max" else cosines.mean(1)).astype(np.float64)


def write_embedding_scores(parts: list[str], adapter: ModelAdapter, validation: pd.DataFrame,
                           reduce: str, path: str) -> np.ndarray:
    """The RDS+-style baseline: θ0's embeddings of pool and validation rows, scored by cosine
    similarity, streamed shard by shard into scores.parquet (losses are NaN: none computed)."""
    reference = unit_rows(adapter.embed(validation))
    scores = []
    with pq.ParquetWriter(path, SCORES_SCHEMA) as writer, \
            progress_bar(sum(pq.read_metadata(p).num_rows for p in parts), "embed") as progress:
        for part in parts:
            rows = pq.read_table(part).to_pandas()
            score = similarity_scores(adapter.embed(rows), reference, reduce)
            writer.write_table(lossless_scores(rows["id"], score))
            scores.append(score)
            progress(len(rows))
    return np.concatenate(scores) if scores else np.empty(0)


def write_random_scores(ids: np.ndarray, seed: int, path: str) -> np.ndarray:
    """A random ranking: scores are uniform draws, so top-k is a uniform random subset."""
    score = np.random.default_rng(seed).random(len(ids))
    pq.write_table(lossless_scores(ids, score), path)
    return score


def score_rows(adapter: ModelAdapter, rows: pd.DataFrame, method: str) -> pd.DataFrame:
    """Score rows held in memory (no shards, no cache): for tests and small, one-off uses."""
    with progress_bar(len(rows), "score") as progress:
        base, warm = adapter.endpoint_losses(rows, None, progress)
    return pd.DataFrame({"id": rows["id"].to_numpy(), "score": score_formula(base, warm, method == "lossdrop"),
                         "loss_base": base, "loss_warm": warm})


@task(name="score-shard", tags=["score"], persist_result=False, cache_policy=NO_CACHE,
      task_run_name="score-shard-{index}")
def score_shard_task(adapter: ModelAdapter, part: str, cache: RowScoreCache, index: int,
                     batch_size: int | None = None) -> tuple[int, int, int]:
    """Score one shard of the pool into the row-score cache; returns (rows scored, reused, damaged set aside)."""
    return score_shard(adapter, part, cache, batch_size, name=f"score shard {index}")
