"""An interrupted service resumes its runs (issue 15, acceptance 3): `curate serve` killed (-9) or
stopped (SIGTERM) mid-scoring, then started again, completes the pool's run once, as the same run,
reusing the row scores the first attempt stored. A real server, `curate serve` and a tiny causal LM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import MATH, REPO, WEB
from prefectserver import prefect_server, server_env, stop

pytestmark = pytest.mark.service
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_an_interrupted_service_completes_the_pool_run_once_resuming(stop_signal, tiny_lm, text_task, tmp_path):
    import httpx

    landing, cache = tmp_path / "landing", tmp_path / "cache"
    landing.mkdir()
    n = 4_000
    pool = pd.DataFrame(
        {"prompt": [f"Note {i}: " for i in range(n)], "response": [f"{(WEB + MATH)[i % 12]} ({i})" for i in range(n)]}
    )
    with prefect_server(tmp_path / "server") as server, httpx.Client(base_url=f"{server}/api", timeout=30) as api:
        env = {**server_env(tmp_path / "home"), "PREFECT_API_URL": f"{server}/api"}
        command = [sys.executable, "-m", "flows.cli", "serve", "--validation", str(text_task["validation"])]
        command += ["--model", tiny_lm, "--budget", "500", "--out-root", str(tmp_path / "runs"), "--cache", str(cache)]
        command += ["--method", "lossdrop", "--warmup-steps", "10", "--shard-rows", "250", "--skip-finetune"]

        def serve(log: str) -> subprocess.Popen:
            return subprocess.Popen(
                command, cwd=REPO, env=env, stdout=open(tmp_path / log, "w"), stderr=subprocess.STDOUT
            )

        first = serve("first.log")
        wait_for(lambda: api.get("/deployments/name/curate-pools/pool-landed").status_code == 200, 120, "serve")
        pool.to_parquet(landing / ".pool.parquet")
        os.rename(landing / ".pool.parquet", landing / "pool.parquet")
        watch = [sys.executable, "-m", "flows.cli", "watch", str(landing), "--state", str(tmp_path / "w.json")]
        assert "started run" in subprocess.run(watch, cwd=REPO, env=env, capture_output=True, text=True).stdout
        wait_for(lambda: list(cache.glob("row-scores/*/shard-*.parquet")), 300, "the first scored shard")
        first.send_signal(stop_signal)
        first.wait(timeout=60)
        second = serve("second.log")
        try:
            url = str(landing / "pool.parquet")

            def runs() -> list[dict]:
                found = api.post("/flow_runs/filter", json={"flow_runs": {}}).json()
                return [r for r in found if (r.get("parameters") or {}).get("pools") == [url]]

            (run,) = wait_for(lambda: [r for r in runs() if r["state_type"] == "COMPLETED"], 400, "the resumed run")
            assert "resuming run" in (tmp_path / "second.log").read_text()
            assert len(runs()) == 1 and run["run_count"] >= 2  # the same run, run again
            reports = sorted((tmp_path / "runs").glob("pool-*/*/report.json"))
            report = json.loads(reports[-1].read_text())
            assert report["cache"]["rows_reused"] > 0 and report["cache"]["warmup"] == "hit"
        finally:
            stop(second)
