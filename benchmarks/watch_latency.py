"""Watcher latency while a long curation run holds the only run slot (issue 15, acceptance 7).

    python benchmarks/watch_latency.py [--every 5] [--landings 3] [--long-rows 400000]

A real `prefect server start` and `curate serve --watch LANDING --watch-every EVERY --runs-at-once 1`
on loopback. A large pool lands first and its run takes the slot; while it runs, small pools land
one after another (each copied under a hidden name, then renamed: whole on arrival). For each, the
latency is the time from its rename to its `pool-landed` run being created on the server (the
run's `created` time, read through the API). A local prefix starts a file once two listings in a
row saw it unchanged, so the bound is two intervals. One CSV row per landing in
benchmarks/results/watch_latency.csv.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
RESULTS = REPO / "benchmarks" / "results" / "watch_latency.csv"


def feature_rows(rng: np.random.Generator, weights: np.ndarray, n: int) -> pd.DataFrame:
    x = rng.normal(size=(n, weights.shape[0])).astype(np.float32)
    return pd.DataFrame({"features": list(x), "label": (x @ weights).argmax(1)})


def land(frame: pd.DataFrame, landing: Path, name: str) -> float:
    """Write the pool under a hidden name, rename it into place; the time of the rename."""
    hidden = landing / f".{name}"
    frame.to_parquet(hidden)
    os.rename(hidden, landing / name)
    return time.time()


def runs_of(api: httpx.Client, pool: str) -> list[dict]:
    runs = api.post("/flow_runs/filter", json={"flow_runs": {}}).json()
    return [r for r in runs if (r.get("parameters") or {}).get("pools") == [pool]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--landings", type=int, default=3)
    parser.add_argument("--long-rows", type=int, default=400_000)
    args = parser.parse_args()
    from prefectserver import prefect_server, server_env, stop

    rng = np.random.default_rng(0)
    weights = rng.normal(size=(6, 3))
    with tempfile.TemporaryDirectory(prefix="watch-latency-") as root:
        root = Path(root)
        landing = root / "landing"
        landing.mkdir()
        feature_rows(rng, weights, 120).to_parquet(root / "validation.parquet")
        with prefect_server(root / "server") as server, httpx.Client(base_url=f"{server}/api", timeout=30) as api:
            env = {**server_env(root / "serve-home"), "PREFECT_API_URL": f"{server}/api"}
            command = [sys.executable, "-m", "flows.cli", "serve", "--validation", str(root / "validation.parquet")]
            command += ["--model", "linear", "--budget", "100", "--out-root", str(root / "runs")]
            command += ["--cache", str(root / "cache"), "--watch", str(landing), "--watch-every", str(args.every)]
            log = open(root / "serve.log", "w")
            serve = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                while api.get("/deployments/name/curate-pools/pool-landed").status_code != 200:
                    time.sleep(0.5)
                land(feature_rows(rng, weights, args.long_rows), landing, "long.parquet")
                long_url = str(landing / "long.parquet")
                while not [r for r in runs_of(api, long_url) if r["state_type"] == "RUNNING"]:
                    time.sleep(0.2)
                rows = []
                for i in range(args.landings):
                    name = f"small-{i}.parquet"
                    landed = land(feature_rows(rng, weights, 200), landing, name)
                    while not (found := runs_of(api, str(landing / name))):
                        time.sleep(0.1)
                    created = datetime.fromisoformat(found[0]["created"].replace("Z", "+00:00")).timestamp()
                    (long_run,) = runs_of(api, long_url)
                    rows.append(
                        {
                            "landing": name,
                            "watch every s": args.every,
                            "latency s": round(created - landed, 2),
                            "long run state when started": long_run["state_type"],
                            "commit": subprocess.run(
                                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
                            ).stdout.strip(),
                        }
                    )
                    print(rows[-1], flush=True)
                    time.sleep(args.every / 2)
                while runs_of(api, long_url)[0]["state_type"] not in ("COMPLETED", "FAILED", "CRASHED"):
                    time.sleep(1)
                (long_run,) = runs_of(api, long_url)
                print(f"the long run: {long_run['state_type']} in {long_run['total_run_time']:.0f} s", flush=True)
            finally:
                stop(serve)
                log.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    new = not RESULTS.exists()
    with RESULTS.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
