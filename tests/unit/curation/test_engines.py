"""Engines run a function on each job and return the results in job order: the local engine as a
rolling pool of Prefect task runs; one engine per run, built from the config (the Ray engine scoring
like the local one: tests/e2e/test_engines.py)."""

from __future__ import annotations

import threading

import pytest

from curation.config import CurateConfig
from curation.engines import LocalEngine, RayEngine, Resources, engine_for


def test_the_local_engine_hands_a_finished_shards_slot_to_the_next_at_once(prefect_api_url):
    """Two slots, three shards: shard 0 only finishes once shard 2 has started, which a window that
    waits for its slowest shard (0) before starting the next would never allow."""
    from prefect import flow

    started = {i: threading.Event() for i in range(3)}
    running, most = [0], [0]
    lock = threading.Lock()

    def work(job: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        started[job].set()
        if job == 0:
            assert started[2].wait(timeout=60), "shard 2 did not start while shard 0 was in flight"
        with lock:
            running[0] -= 1
        return 10 * job

    finished = []

    @flow
    def engine_flow() -> list[int]:
        return LocalEngine(workers=2).map(work, [0, 1, 2], Resources(), on_done=finished.append)

    done = engine_flow()
    assert done == [0, 10, 20]  # results in job order
    assert most[0] == 2 and finished == [1, 2, 3]


@pytest.mark.parametrize("engine", ["local", "ray", "ray://10.0.0.1:10001"])
def test_engines_are_built_once_from_the_config(engine):
    built = engine_for(
        CurateConfig(pool="p", out="o", validation="v", model="linear", budget=5, engine=engine, workers=3)
    )
    assert isinstance(built, LocalEngine if engine == "local" else RayEngine) and built.workers == 3
    if engine.startswith("ray://"):
        assert built.address == engine


def test_a_local_ray_instance_leaves_the_commands_signal_handlers_in_place():
    """`ray.init` installs its own SIGTERM handler; the command's (clean-up, one line, exit 143) comes back."""
    import signal

    from curation.engines import RayEngine

    def ours(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, ours)
    try:
        assert RayEngine(None, 1).map(abs, [-1, -2], Resources()) == [1, 2]
        assert signal.getsignal(signal.SIGTERM) is ours
    finally:
        signal.signal(signal.SIGTERM, before)
