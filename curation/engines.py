"""Where shards are scored: this process (the flow's task runner) or a Ray cluster.

A shard job is plain data (strings and numbers): the model to load, the warmup cache entry and
the shard's Parquet part. A Ray worker is an actor that loads the model and θT once, in its
constructor (the setup hook), then scores the shards it is handed; results go to the row-score
cache, never through pickled objects. The flow reads the losses back from the cache.

Why Ray actors rather than prefect-ray's RayTaskRunner: each Prefect task run on a Ray worker
needs its own Prefect API connection and would load the model per task; an actor loads it once
per worker, and the shard results already live in the cache, so nothing but ids crosses.
The shards and the cache must be reachable from every worker: a local Ray instance (or a
cluster on one machine) shares this machine's files; on a multi-machine cluster, put `--cache`
on s3:// (the validated parts are still spilled locally: see the closing note of issue 4).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ShardJob:
    model: str
    feature_dim: int | None
    num_classes: int | None
    max_length: int
    cache: str
    warm_key: str
    row_key: str
    part: str
    index: int


def load_scorer(job: ShardJob):
    """The adapter with θT loaded; once per process (adapter_for and load_into keep it)."""
    from curation.models import adapter_for
    from tasks.warmup import load_into

    adapter = adapter_for(job.model, job.feature_dim, job.num_classes, job.max_length)
    load_into(adapter, job.cache, job.warm_key)
    return adapter


def run_job(job: ShardJob) -> tuple[int, int, int]:
    """Score one shard into the row-score cache; returns (rows scored, rows reused, damaged set aside)."""
    from curation.score_cache import RowScoreCache
    from tasks.score import score_shard

    return score_shard(load_scorer(job), job.part, RowScoreCache(job.cache, job.row_key),
                       name=f"score shard {job.index}")


class ShardScorer:
    """A Ray actor: the model loads in the constructor, then `score` runs shard after shard."""

    def __init__(self, first_job: dict):
        load_scorer(ShardJob(**first_job))

    def score(self, job: dict) -> tuple[int, int, int, int]:
        """(rows scored, rows reused, damaged set aside, this worker's process id)."""
        return (*run_job(ShardJob(**job)), os.getpid())


def run_on_ray(jobs: list[ShardJob], address: str | None, workers: int) -> list[tuple[int, int, int, int]]:
    """Score the shards on Ray: a local instance with `workers` CPUs, or the cluster at `address`."""
    import ray
    import torch
    from ray.util import ActorPool

    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        gpus = 1 if torch.cuda.is_available() else 0
        actor = ray.remote(num_cpus=1, num_gpus=gpus)(ShardScorer)
        pool = ActorPool([actor.remote(asdict(jobs[0])) for _ in range(min(workers, len(jobs)))])
        return list(pool.map(lambda scorer, job: scorer.score.remote(asdict(job)), jobs))
    finally:
        if started_here:
            ray.shutdown()
