"""An interrupted service resumes its runs: `curate serve` killed (-9) or stopped (SIGTERM)
mid-scoring, then started again, completes the pool's run once, as the same run, reusing the row
scores the first attempt stored. A real server on PostgreSQL, `curate serve` and a tiny causal LM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pandas as pd
import pytest
from conftest import MATH, REPO, WEB
from polling import wait_for
from prefectserver import prefect_server, server_env, stop

from curation.tempfiles import process_alive

pytestmark = pytest.mark.service
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def test_an_interrupted_service_completes_each_pool_run_once_resuming(tiny_lm, text_task, prefect_database, tmp_path):
    """kill -9 (of serve and the run's process: the machine died), then SIGTERM, each mid-scoring of a
    pool of its own; after each restart that pool's run completes as the same run, run again, with row
    scores reused. After kill -9 the new serve first waits for the dead one's serving lease."""
    import httpx

    landing, cache = tmp_path / "landing", tmp_path / "cache"
    landing.mkdir()
    n = 2_000
    with (
        prefect_server(tmp_path / "server", prefect_database) as server,
        httpx.Client(base_url=f"{server}/api", timeout=30) as api,
    ):
        env = {**server_env(tmp_path / "home"), "PREFECT_API_URL": f"{server}/api"}
        command = [sys.executable, "-m", "flows.cli", "serve", "--validation", str(text_task["validation"])]
        command += ["--model", tiny_lm, "--budget", "500", "--out-root", str(tmp_path / "runs"), "--cache", str(cache)]
        command += ["--method", "lossdrop", "--warmup-steps", "10", "--shard-rows", "250", "--skip-finetune"]

        def serve(log: str) -> subprocess.Popen:
            out = open(tmp_path / log, "w")
            return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

        def runs(url: str) -> list[dict]:
            found = api.post("/flow_runs/filter", json={"flow_runs": {}}).json()
            return [r for r in found if (r.get("parameters") or {}).get("pools") == [url]]

        process = serve("serve-0.log")
        wait_for(lambda: api.get("/deployments/name/curate-pools/pool-landed").status_code == 200, 120, "serve")
        try:
            for attempt, stop_signal in enumerate((signal.SIGKILL, signal.SIGTERM), start=1):
                name = f"pool{attempt}"
                pool = pd.DataFrame(
                    {
                        "prompt": [f"Note {i} of {name}: " for i in range(n)],
                        "response": [f"{(WEB + MATH)[i % 12]} ({i})" for i in range(n)],
                    }
                )
                pool.to_parquet(landing / f".{name}.parquet")
                os.rename(landing / f".{name}.parquet", landing / f"{name}.parquet")
                url, shards = str(landing / f"{name}.parquet"), set(cache.glob("row-scores/*/shard-*.parquet"))
                watch = [sys.executable, "-m", "flows.cli", "watch", str(landing), "--state", str(tmp_path / "w.json")]
                started = subprocess.run(watch, cwd=REPO, env=env, capture_output=True, text=True).stdout
                assert f"for {url}" in started, started
                scored = lambda shards=shards: set(cache.glob("row-scores/*/shard-*.parquet")) - shards  # noqa: E731
                wait_for(scored, 300, "a shard scored")
                host, _, pid = runs(url)[0]["infrastructure_pid"].rpartition(":")  # the run's own process
                assert host == socket.gethostname() and process_alive(int(pid))
                process.send_signal(stop_signal)
                process.wait(timeout=60)
                if stop_signal == signal.SIGKILL:  # the machine died: the run's own process with it (an
                    os.kill(int(pid), signal.SIGKILL)  # orphan left alive would finish the run on its own
                    # while the next serve waits for the dead one's serving lease to run out)
                process = serve(f"serve-{attempt}.log")
                (run,) = wait_for(
                    lambda: [r for r in runs(url) if r["state_type"] == "COMPLETED"], 400, "the resumed run"
                )
                assert "resuming run" in (tmp_path / f"serve-{attempt}.log").read_text(), stop_signal
                assert len(runs(url)) == 1 and run["run_count"] >= 2  # the same run, run again
                assert not process_alive(int(pid)), "SIGTERM left the run's process running: stopped before the rerun"
                (report,) = (tmp_path / "runs").glob(f"{name}-*/*/report.json")
                report = json.loads(report.read_text())
                assert report["cache"]["rows_reused"] > 0 and report["cache"]["warmup"] == "hit", stop_signal
        finally:
            stop(process)


def test_a_second_serve_stands_by_until_the_first_stops(prefect_database, tmp_path):
    """One `curate serve` per server: a second one says it stands by and serves nothing while the
    first holds the serving lease; once the first is stopped (SIGTERM) it takes over."""
    import httpx
    import numpy as np
    from conftest import make_feature_rows
    from polling import stays

    make_feature_rows(np.random.default_rng(4), np.eye(6)[:, :3], 60).to_parquet(tmp_path / "validation.parquet")
    with prefect_server(tmp_path / "server", prefect_database) as server, httpx.Client(base_url=f"{server}/api") as api:
        env = {**server_env(tmp_path / "home"), "PREFECT_API_URL": f"{server}/api"}
        command = [sys.executable, "-m", "flows.cli", "serve", "--validation", str(tmp_path / "validation.parquet")]
        command += ["--model", "linear", "--budget", "10", "--out-root", str(tmp_path / "runs")]

        def serve(log: str) -> subprocess.Popen:
            out = open(tmp_path / log, "w")  # noqa: SIM115  (the process writes it until it ends)
            return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

        said = lambda log: (tmp_path / log).read_text()  # noqa: E731
        first = serve("first.log")
        second = None
        try:
            wait_for(lambda: "holding the lease 'curate-serve'" in said("first.log"), 120, "the first serve", first)
            wait_for(lambda: api.get("/deployments/name/curate-pools/pool-landed").status_code == 200, 60, "serving")
            second = serve("second.log")
            wait_for(lambda: "standing by" in said("second.log"), 120, "the second serve to stand by", second)
            stays(lambda: "holding the lease" not in said("second.log"), 5, "the second serve standing by", second)
            stop(first)
            wait_for(lambda: "holding the lease 'curate-serve'" in said("second.log"), 120, "the second to take over",
                     second, tmp_path / "second.log")  # fmt: skip
        finally:
            for process in (first, second):
                if process is not None:
                    stop(process)
