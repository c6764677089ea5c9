"""A pool version runs once, kept by the server: a watcher that lost its state after a Prefect
server restart asks again, and the restarted server (its database) answers with the run it has.
A real `prefect server start` on PostgreSQL, stopped and started on the same database."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from prefectserver import prefect_server

pytestmark = pytest.mark.service


def test_lost_watcher_state_after_a_server_restart_starts_no_second_run(prefect_database, request, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from curation.config import ServiceConfig
    from flows.service.deployments import pool_landed
    from flows.watch import pool_objects, run_key, watch_once

    landing = tmp_path / "landing"
    landing.mkdir()
    pd.DataFrame({"features": [[0.0, 1.0]] * 3, "label": [0, 1, 0]}).to_parquet(landing / "pool.parquet")
    prefix, state = str(landing), str(tmp_path / "state" / "watch.json")
    ((url, pool),) = pool_objects(prefix).items()
    config = ServiceConfig(validation=str(landing / "pool.parquet"), model="linear", budget=2, out_root=str(tmp_path))
    home, said = tmp_path / "server", []

    def watch_twice() -> list[str]:  # a local prefix: listed, then started when unchanged
        return watch_once(prefix, state) + watch_once(prefix, state)

    with prefect_server(home, prefect_database) as server, temporary_settings({PREFECT_API_URL: f"{server}/api"}):
        pool_landed(config).apply()  # registered, not served: its runs stay scheduled
        said += watch_twice()
    os.remove(state)  # the watcher's memory is lost while the server restarts
    with prefect_server(home, prefect_database) as server, temporary_settings({PREFECT_API_URL: f"{server}/api"}):
        said += watch_twice()
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs()
    assert said[0].startswith("started run curate-pools-pool-") and said[1].startswith("already started: run ")
    assert said[0].split(" for ")[0].removeprefix("started ") == said[1].split(" for ")[0].removeprefix(
        "already started: "
    )
    assert [run.idempotency_key for run in runs] == [run_key(url, pool.version)]  # one run, across the restart
    if prefect_database:  # kept in PostgreSQL itself
        stored = request.getfixturevalue("postgres").query(prefect_database, "select idempotency_key from flow_run")
        assert stored == run_key(url, pool.version)
