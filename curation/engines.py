"""Where a scorer's shard jobs run: `LocalEngine` (Prefect task runs in this process) or `RayEngine`.

An engine knows nothing of scoring: `Engine.map(fn, jobs, resources)` runs a module-level function
on each job (plain data: strings and numbers) and returns the results in job order. The scorer that
owns the jobs declares what each needs (`Resources`: CPUs, GPUs) as data; a job loads its model
once per process (the setup hook is the scorer's; `adapter_for` finds the run's `LoadedModels`,
or on Ray the worker's own), so Ray's long-lived workers load it once.

- `LocalEngine`: each job is a Prefect task run (`score-shard-N`) on the flow's task runner, at
  most `workers` in flight as a rolling pool: a finished job's slot goes to the next at once.
  The score stage around it holds the run's GPU slot (tasks/slots.py), so its jobs carry no tag.
- `RayEngine`: one actor per worker runs the jobs it is handed. Why actors rather than
  prefect-ray's RayTaskRunner: each Prefect task run on a Ray worker needs its own API connection
  and would load the model per task. What the jobs read must be reachable from every worker: true
  on one machine. Several machines are not supported yet: the cache can be on s3://, but a pool's
  admitted rows are spilled to a local temporary folder that only the flow's machine reads.
"""

from __future__ import annotations

import signal
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

OnDone = Callable[[int], None]  # called with the number of jobs finished so far
Job = TypeVar("Job")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Resources:
    """What one job needs of a worker, declared by the scorer that runs it."""

    cpus: int = 1
    gpus: int = 0


class Engine(ABC):
    @abstractmethod
    def map(
        self, fn: Callable[[Job], Result], jobs: list[Job], resources: Resources, on_done: OnDone | None = None
    ) -> list[Result]:
        """`fn(job)` for every job (a module-level function: Ray ships it by name); results in job order."""


class LocalEngine(Engine):
    def __init__(self, workers: int):
        self.workers = workers

    def map(self, fn, jobs, resources, on_done=None):
        from prefect import task
        from prefect.cache_policies import NO_CACHE
        from prefect.futures import as_completed

        name = fn.__name__.strip("_").replace("_", "-")  # score_shard: task runs score-shard-0, -1, ...
        job_task = task(fn, name=name, persist_result=False, cache_policy=NO_CACHE, tags=[name])
        results: dict[int, Any] = {}
        waiting, in_flight = list(reversed(range(len(jobs)))), {}
        while waiting or in_flight:
            while waiting and len(in_flight) < self.workers:
                position = waiting.pop()
                labelled = job_task.with_options(task_run_name=f"{name}-{position}")
                in_flight[labelled.submit(jobs[position])] = position
            finished = next(as_completed(list(in_flight)))
            results[in_flight.pop(finished)] = finished.result()  # a failed job ends the run here
            if on_done:
                on_done(len(results))
        return [results[position] for position in range(len(jobs))]


@contextmanager
def our_signal_handlers() -> Iterator[None]:
    """SIGTERM's and SIGINT's handlers as they were before the block: `ray.init` installs Ray's own in
    the main thread, which would kill the command at once on SIGTERM (no clean-up, no one-line exit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class _Worker:
    """A Ray actor: runs job after job in one long-lived process; the models its jobs load stay loaded
    in the worker's own `LoadedModels`."""

    def __init__(self):
        from curation.models.loaded import LoadedModels

        self.models = LoadedModels()

    def run(self, fn, job):
        with self.models.active():
            return fn(job)


class RayEngine(Engine):
    """A local Ray instance with `workers` CPUs, or the cluster at `address` (ray://...)."""

    def __init__(self, address: str | None, workers: int):
        self.address, self.workers = address, workers

    def map(self, fn, jobs, resources, on_done=None):
        import ray
        from ray.util import ActorPool

        if not jobs:
            return []
        started_here = not ray.is_initialized()
        if started_here:
            with our_signal_handlers():
                if self.address:
                    ray.init(address=self.address, log_to_driver=False)
                else:
                    ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        try:
            actor = ray.remote(num_cpus=resources.cpus, num_gpus=resources.gpus)(_Worker)
            pool = ActorPool([actor.remote() for _ in range(min(self.workers, len(jobs)))])
            results = []
            for done in pool.map(lambda worker, job: worker.run.remote(fn, job), jobs):
                results.append(done)
                if on_done:
                    on_done(len(results))
            return results
        finally:
            if started_here:
                with our_signal_handlers():
                    ray.shutdown()


def engine_for(config) -> Engine:
    """The engine a run's `--engine` and `--workers` name."""
    if config.engine == "local":
        return LocalEngine(config.workers)
    return RayEngine(config.engine_address, config.workers)
