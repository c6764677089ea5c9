"""Where shards are scored: `LocalEngine` (Prefect task runs in this process) or `RayEngine`.

A shard job is plain data (strings and numbers): the model to load, the warmup cache entry, the
shard's Parquet part, and the GPUs it wants. Whichever engine runs it, `run_job` loads the model
and θT once per process (the setup hook: `adapter_for` and `load_into` keep them) and scores the
shard into the row-score cache; only counts come back, never pickled objects. The scorer reads
the losses from the cache.

- `LocalEngine`: each shard is a Prefect task run (`score-shard-N`) on the flow's task runner, at
  most `workers` in flight as a rolling pool: a finished shard's slot goes to the next at once.
  Shards wanting a GPU carry the tag `gpu` (`prefect concurrency-limit create gpu 1`).
- `RayEngine`: one actor per worker loads the model in its constructor, then scores the shards
  it is handed. Why actors rather than prefect-ray's RayTaskRunner: each Prefect task run on a
  Ray worker needs its own API connection and would load the model per task. The shards and the
  cache must be reachable from every worker: true on one machine; on a multi-machine cluster
  put `--cache` on s3:// (the validated parts are still spilled locally: see issue 4's note).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Callable

OnDone = Callable[[int], None]  # called with the number of shards finished so far


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
    gpus: int = 0
    start: str = "theta0"  # the score's start point: θ0 or θ1
    row_format: str | None = None  # the rows' format (curation.formats), detected at ingest


@dataclass(frozen=True)
class ShardDone:
    rows_scored: int
    rows_reused: int
    damaged: int  # damaged cache files set aside and recomputed
    worker: int  # the process id that scored it


def load_scorer(job: ShardJob):
    """The adapter with θT loaded; once per process (adapter_for and load_into keep it)."""
    from curation.models import adapter_for
    from curation.warmup_cache import load_into

    adapter = adapter_for(job.model, job.feature_dim, job.num_classes, job.max_length, job.row_format)
    if getattr(adapter, "warm_key", None) != job.warm_key:  # this process holds θT already: no manifest read per shard
        load_into(adapter, job.cache, job.warm_key)
    return adapter


def run_job(job: ShardJob) -> ShardDone:
    """Score one shard into the row-score cache."""
    from curation.score_cache import RowScoreCache
    from curation.scorers.lossdrop import score_shard

    cache = RowScoreCache(job.cache, job.row_key)
    counts = score_shard(load_scorer(job), job.part, cache, name=f"score shard {job.index}", start=job.start)
    return ShardDone(*counts, worker=os.getpid())


class Engine(ABC):
    @abstractmethod
    def run(self, jobs: list[ShardJob], on_done: OnDone | None = None) -> list[ShardDone]:
        """Score every job's shard; the results in job order."""


class LocalEngine(Engine):
    def __init__(self, workers: int, work: Callable[[ShardJob], ShardDone] = run_job):
        self.workers, self.work = workers, work  # `work`: what a shard's task run does (tests watch it)

    def run(self, jobs: list[ShardJob], on_done: OnDone | None = None) -> list[ShardDone]:
        from prefect import task
        from prefect.cache_policies import NO_CACHE
        from prefect.futures import as_completed

        shard_task = task(
            self.work,
            name="score-shard",
            task_run_name="score-shard-{job.index}",
            persist_result=False,
            cache_policy=NO_CACHE,
        )
        results: dict[int, ShardDone] = {}
        waiting, in_flight = list(reversed(jobs)), {}

        def submit() -> None:
            job = waiting.pop()
            tags = ["score", "gpu"] if job.gpus else ["score"]
            in_flight[shard_task.with_options(tags=tags).submit(job)] = job.index

        while waiting or in_flight:
            while waiting and len(in_flight) < self.workers:
                submit()
            finished = next(as_completed(list(in_flight)))
            results[in_flight.pop(finished)] = finished.result()  # a failed shard ends the run here
            if on_done:
                on_done(len(results))
        return [results[job.index] for job in jobs]


class ShardScorer:
    """A Ray actor: the model loads in the constructor, then `score` runs shard after shard."""

    def __init__(self, first_job: dict):
        load_scorer(ShardJob(**first_job))

    def score(self, job: dict) -> dict:
        return asdict(run_job(ShardJob(**job)))


class RayEngine(Engine):
    """A local Ray instance with `workers` CPUs, or the cluster at `address` (ray://...)."""

    def __init__(self, address: str | None, workers: int):
        self.address, self.workers = address, workers

    def run(self, jobs: list[ShardJob], on_done: OnDone | None = None) -> list[ShardDone]:
        import ray
        from ray.util import ActorPool

        if not jobs:
            return []
        started_here = not ray.is_initialized()
        if started_here:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        try:
            actor = ray.remote(num_cpus=1, num_gpus=max(job.gpus for job in jobs))(ShardScorer)
            pool = ActorPool([actor.remote(asdict(jobs[0])) for _ in range(min(self.workers, len(jobs)))])
            results = []
            for done in pool.map(lambda scorer, job: scorer.score.remote(asdict(job)), jobs):
                results.append(ShardDone(**done))
                if on_done:
                    on_done(len(results))
            return results
        finally:
            if started_here:
                ray.shutdown()


def engine_for(config) -> Engine:
    """The engine a run's `--engine` and `--workers` name."""
    if config.engine == "local":
        return LocalEngine(config.workers)
    return RayEngine(config.engine_address, config.workers)
