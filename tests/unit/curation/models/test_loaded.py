"""A run's loaded models: loaded once per run and shared by its threads, never by the next run;
a Ray-style worker keeps its own across the jobs it is handed."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from curation.engines import _Worker
from curation.models import LoadedModels, ModelSpec, adapter_for

SPEC = ModelSpec("linear", feature_dim=4, num_classes=3)


def test_a_run_loads_a_spec_once_and_its_threads_share_it():
    with LoadedModels().active() as models:
        first = adapter_for(SPEC)
        context = contextvars.copy_context()  # what Prefect's thread pool does for each task it runs
        with ThreadPoolExecutor(4) as pool:
            in_threads = list(pool.map(lambda _: context.copy().run(adapter_for, SPEC), range(8)))
        assert all(adapter is first for adapter in in_threads) and len(models) == 1
        assert adapter_for(ModelSpec("mlp", feature_dim=4, num_classes=3)) is not first and len(models) == 2


def test_nothing_outlives_a_run():
    with LoadedModels().active():
        held = adapter_for(SPEC)
        held.warm_key = "a θT of this run"
    with LoadedModels().active():
        assert adapter_for(SPEC) is not held and adapter_for(SPEC).warm_key is None
    assert adapter_for(SPEC) is not adapter_for(SPEC)  # outside a run: a new adapter per call


def _spec_adapter_id(spec: ModelSpec) -> int:
    return id(adapter_for(spec))


def test_a_worker_keeps_its_models_across_jobs_and_apart_from_the_callers():
    worker = _Worker()
    with LoadedModels().active():
        caller = id(adapter_for(SPEC))
        ids = {worker.run(_spec_adapter_id, SPEC) for _ in range(3)}
    assert len(ids) == 1 and caller not in ids and len(worker.models) == 1
