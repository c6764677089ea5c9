"""lossdrop: the normalized endpoint loss drop of every pool row, (ℓ(θs,z) − ℓ(θT,z)) / ℓ(θs,z).

θs is the start point (`--start`): θ0, or θ1, the warmup's first checkpoint (the seed paper's
main variant). scores.parquet's `loss_base` is ℓ(θs). Two forward passes per row, no gradients;
from θ0, ℓ(θ0) depends on no target and comes from the shared θ0 row cache
(`curation.cache.row_scores.BASE_LOSSES`), so each further target, and each later run, adds one pass.
Shards (the Parquet parts the validate step spilled) are the unit of work, caching and resume:
each scored shard's losses are written to the row-score cache before the shard counts as done,
so a crashed run loses at most the shards in flight, and rows an earlier pool held under the
same θT are not scored again. The shards run on the run's engine (`curation.engines`); the
scores are read back from the cache.
`lossdrop-raw` is the same drop, not normalized (as CoLoR-Filter).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curation.cache.keys import shard_key
from curation.cache.row_scores import BASE_LOSSES, RowScoreCache
from curation.engines import Resources
from curation.models import ModelAdapter, ModelSpec
from curation.models.base import Progress
from curation.progress import progress_artifact, progress_bar
from curation.rows import HASH_COLUMN
from curation.scorers.base import SCORES_SCHEMA, Scored, Scorer, ScoreRequest
from curation.signals import score_formula


@dataclass(frozen=True)
class ShardJob:
    """One shard to score, as plain data: the model to load, θT's cache entry, the shard's Parquet part."""

    spec: ModelSpec
    cache: str
    warm_key: str
    row_key: str
    part: str
    index: int
    start: str = "theta0"  # the score's start point: θ0 or θ1
    base_key: str | None = None  # θ0's shared row losses (from θ0 only); None: both passes here


@dataclass(frozen=True)
class ShardDone:
    rows_scored: int
    rows_reused: int
    damaged: int  # damaged cache files set aside and recomputed
    start_passes: int  # rows whose start-point loss was computed (not found in the θ0 row cache)
    worker: int  # the process id that scored it


def load_scorer(job: ShardJob) -> ModelAdapter:
    """The adapter with θT loaded: the setup hook, once per run or Ray worker (its `LoadedModels` keeps both)."""
    from curation.cache.warmups import load_into
    from curation.models import adapter_for

    adapter = adapter_for(job.spec)
    if adapter.warm_key != job.warm_key:  # this process holds θT already: no manifest read per shard
        load_into(adapter, job.cache, job.warm_key)
    return adapter


def score_shard(job: ShardJob) -> ShardDone:
    """Score one shard into the row-score cache (what an engine runs)."""
    return ShardDone(*score_part(load_scorer(job), job), worker=os.getpid())


def score_part(adapter: ModelAdapter, job: ShardJob, batch_size: int | None = None) -> tuple[int, int, int, int]:
    """Put one shard's endpoint losses in the row-score cache, scoring only rows it lacks.

    Returns (rows scored, rows reused, damaged cache files set aside, start-point losses computed).
    A shard finished before (this pool's earlier run or an identical shard of another pool) costs
    one verified read.
    """
    part, name = job.part, f"score shard {job.index}"
    cache = RowScoreCache(job.cache, job.row_key)
    hashes = pq.read_table(part, columns=[HASH_COLUMN]).column(HASH_COLUMN).to_pandas()
    counts = {"scored": 0, "damaged": 0, "start": 0}

    def compute() -> pd.DataFrame:
        rows = pq.read_table(part).to_pandas()
        known, counts["damaged"] = cache.known_rows(rows[HASH_COLUMN])
        todo = rows[~rows[HASH_COLUMN].isin(known[HASH_COLUMN])]
        counts["scored"] = len(todo)
        if len(todo):
            with progress_bar(2 * len(todo), name) as progress:
                base, warm, counts["start"], damaged = endpoint_losses(adapter, job, todo, batch_size, progress)
            counts["damaged"] += damaged
            fresh = pd.DataFrame({HASH_COLUMN: todo[HASH_COLUMN].to_numpy(), "loss_base": base, "loss_warm": warm})
            known = pd.concat([known, fresh], ignore_index=True) if len(known) else fresh
        return known.set_index(HASH_COLUMN).reindex(rows[HASH_COLUMN].to_numpy()).reset_index()

    _, _, damaged = cache.obtain_shard(shard_key(hashes), compute)  # the file is the shard's completion marker
    return counts["scored"], len(hashes) - counts["scored"], damaged + counts["damaged"], counts["start"]


def endpoint_losses(
    adapter: ModelAdapter, job: ShardJob, rows: pd.DataFrame, batch_size: int | None, progress: Progress | None
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(ℓ(θs), ℓ(θT), start-point losses computed, damaged files set aside) of rows. From θ0, ℓ(θ0)
    comes from the shared θ0 row cache, computed and stored for the rows it lacks."""
    if job.base_key is None or job.start != "theta0":
        bar = (lambda n: progress(2 * n)) if progress else None
        return *adapter.endpoint_losses(rows, batch_size, bar, job.start), len(rows), 0
    shared = RowScoreCache(job.cache, job.base_key, BASE_LOSSES)
    hashes, counts = rows[HASH_COLUMN], {"computed": 0, "damaged": 0}

    def compute() -> pd.DataFrame:
        known, counts["damaged"] = shared.known_rows(hashes)
        missing = rows[~hashes.isin(known[HASH_COLUMN])]
        counts["computed"] = len(missing)
        base = adapter.losses(missing, "theta0", batch_size, progress) if len(missing) else np.zeros(0)
        fresh = pd.DataFrame({HASH_COLUMN: missing[HASH_COLUMN].to_numpy(), "loss_base": base})
        found = pd.concat([known, fresh], ignore_index=True) if len(known) else fresh
        return found.set_index(HASH_COLUMN).reindex(hashes.to_numpy()).reset_index()

    found, status, damaged = shared.obtain_shard(shard_key(hashes), compute)
    if progress and status == "hit":
        progress(len(rows))
    warm = adapter.losses(rows, "warm", batch_size, progress)
    return found["loss_base"].to_numpy(), warm, counts["computed"], damaged + counts["damaged"]


def write_scores(parts: list[str], cache: RowScoreCache, normalize: bool, path: str) -> tuple[np.ndarray, int]:
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
            score = score_formula(base, warm, normalize=normalize)
            writer.write_table(
                pa.table(
                    {"id": rows["id"].astype(str).to_numpy(), "score": score, "loss_base": base, "loss_warm": warm},
                    schema=SCORES_SCHEMA,
                )
            )
            scores.append(score)
    return (np.concatenate(scores) if scores else np.empty(0)), stored


def score_rows(
    adapter: ModelAdapter, rows: pd.DataFrame, normalize: bool = True, start: str = "theta0"
) -> pd.DataFrame:
    """Score rows held in memory (no shards, no cache): for tests and small, one-off uses."""
    with progress_bar(len(rows), "score") as progress:
        base, warm = adapter.endpoint_losses(rows, None, progress, start)
    return pd.DataFrame(
        {
            "id": rows["id"].to_numpy(),
            "score": score_formula(base, warm, normalize),
            "loss_base": base,
            "loss_warm": warm,
        }
    )


class LossDrop(Scorer):
    """The normalized endpoint loss drop, shard by shard on the run's engine."""

    needs_warmup = True
    normalize = True

    def score(self, request: ScoreRequest) -> Scored:
        cache, pool, keys = request.settings.cache, request.pool, request.keys
        jobs = [
            ShardJob(
                request.spec,
                cache,
                keys.warmup,
                keys.row_scores,
                part=part,
                index=index,
                start=request.run.start,
                base_key=keys.base_losses,
            )
            for index, part in enumerate(pool.valid_parts)
        ]
        progress = progress_artifact("scoring-progress", "shards of the pool scored")
        # A shard on a GPU carries the `gpu` tag (local) or asks Ray for one.
        resources = Resources(cpus=1, gpus=request.adapter.gpus)
        on_done = (lambda finished: progress(100.0 * finished / len(jobs))) if progress else None
        done = request.engine.map(score_shard, jobs, resources, on_done)
        row_cache = RowScoreCache(cache, keys.row_scores)
        scores, stored = write_scores(pool.valid_parts, row_cache, self.normalize, request.path)
        rows_scored = sum(d.rows_scored for d in done)
        return Scored(
            scores,
            rows_scored,
            sum(d.rows_reused for d in done),
            len({d.worker for d in done}) or 1,
            stored,
            forward_passes=rows_scored + sum(d.start_passes for d in done),  # θT, and θs where not cached
            damaged=sum(d.damaged for d in done),
        )


class LossDropRaw(LossDrop):
    """The un-normalized drop ℓ(θs) − ℓ(θT) (CoLoR-Filter); shares lossdrop's θT and row-score cache."""

    normalize = False
