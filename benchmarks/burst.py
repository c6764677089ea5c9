"""A burst of landings (issue 35, acceptance 5): many small pools land on S3 within a minute while
`curate serve --watch s3://... --runs-at-once 2` runs against a Prefect server on PostgreSQL; once
as is, once with the server stopped and started again (same database, same port) mid-burst.

    python benchmarks/burst.py [--pools 50] [--within 60] [--scenarios plain,restart]

Real servers on loopback: PostgreSQL (tests/postgres.py), `prefect server start` on it, `rclone serve
s3`, and `curate serve` with its watcher listing every 2 s. Each pool (200 feature rows, the linear
model, --skip-finetune) is uploaded through the S3 API at an even pace over `--within` seconds.
The latency of a pool is from the end of its upload to its `pool-landed` run's `created` time on
the server. Responsiveness: the server's /api/health polled every second for the whole scenario
(the slowest answer, and how many failed: a restart's downtime fails some on purpose).

One CSV row per scenario in benchmarks/results/burst.csv, written when it ends: pools landed, runs
created (extra: beyond one per pool, each of which must end AlreadyCurated), pools completed,
duplicated (curations beyond one per pool: must be 0), lost (landed pools without a completed run:
must be 0), latency p50/p95, seconds until every run finished. A scenario already
in the CSV at this commit is skipped on a rerun (`--again` measures it once more).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
RESULTS = REPO / "benchmarks" / "results" / "burst.csv"
FIELDS = ["commit", "scenario", "pools", "within_s", "runs_created", "extra_runs", "completed", "duplicated", "lost",
          "latency_p50_s", "latency_p95_s", "all_done_s", "health_max_s", "health_failed", "notes"]  # fmt: skip
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()


def done_before() -> set[tuple[str, str]]:
    if not RESULTS.exists():
        return set()
    with RESULTS.open() as handle:
        return {(row["commit"], row["scenario"]) for row in csv.DictReader(handle)}


def write_row(row: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    new = not RESULTS.exists()
    with RESULTS.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def feature_rows(rng: np.random.Generator, weights: np.ndarray, n: int) -> pd.DataFrame:
    x = rng.normal(size=(n, weights.shape[0])).astype(np.float32)
    return pd.DataFrame({"features": list(x), "label": (x @ weights).argmax(1)})


class Health(threading.Thread):
    """/api/health every second: the slowest answer and the failures."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.slowest, self.failed, self.stopped = url, 0.0, 0, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            began = time.monotonic()
            try:
                httpx.get(f"{self.url}/api/health", timeout=10).raise_for_status()
                self.slowest = max(self.slowest, time.monotonic() - began)
            except httpx.HTTPError:
                self.failed += 1


def pool_runs(api: httpx.Client, deployment_id: str) -> list[dict]:
    runs, offset = [], 0
    while page := api.post(
        "/flow_runs/filter",
        json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "limit": 200, "offset": offset},
    ).json():
        runs, offset = runs + page, offset + len(page)
    return runs


def scenario(name: str, args, root: Path, pg) -> dict:
    """One burst; with `restart`, the server is stopped and started again after half the pools."""
    import s3fs
    from prefectserver import free_port, prefect_server, server_env, stop
    from s3server import rclone_s3, s3_env

    rng = np.random.default_rng(0)
    weights = rng.normal(size=(6, 3))
    s3root, bucket = root / "s3", "burst"
    (s3root / bucket).mkdir(parents=True)
    database, port = pg.new_database(), free_port()
    with ExitStack() as stack:
        endpoint = stack.enter_context(rclone_s3(s3root))
        keys = s3_env(endpoint)
        checksums = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
        fs = s3fs.S3FileSystem(
            key=keys["AWS_ACCESS_KEY_ID"],
            secret=keys["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=endpoint,
            config_kwargs=checksums,
        )
        feature_rows(rng, weights, 120).to_parquet(root / "validation.parquet")
        fs.put_file(str(root / "validation.parquet"), f"{bucket}/target/validation.parquet")
        server = ExitStack()
        url = server.enter_context(prefect_server(root / "server", database, port=port))
        api = stack.enter_context(httpx.Client(base_url=f"{url}/api", timeout=30))
        env = {**server_env(root / "serve-home"), **s3_env(endpoint), "PREFECT_API_URL": f"{url}/api"}
        command = [
            sys.executable,
            "-m",
            "flows.cli",
            "serve",
            "--validation",
            f"s3://{bucket}/target/validation.parquet",
        ]
        command += ["--model", "linear", "--budget", "50", "--skip-finetune", "--runs-at-once", "2"]
        command += ["--out-root", f"s3://{bucket}/runs", "--cache", f"s3://{bucket}/cache"]
        command += ["--watch", f"s3://{bucket}/landing/", "--watch-every", "2"]
        log = stack.enter_context(open(root / "serve.log", "w"))
        serve = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        health = Health(url)
        try:
            while api.get("/deployments/name/curate-pools/pool-landed").status_code != 200:
                time.sleep(0.5)
            landed_id = api.get("/deployments/name/curate-pools/pool-landed").json()["id"]
            health.start()
            began, landed, notes = time.time(), {}, ""
            for i in range(args.pools):
                time.sleep(max(0.0, began + i * args.within / args.pools - time.time()))
                local = root / f"pool-{i:03d}.parquet"
                feature_rows(rng, weights, 200).to_parquet(local)
                fs.put_file(str(local), f"{bucket}/landing/pool-{i:03d}.parquet")
                landed[f"s3://{bucket}/landing/pool-{i:03d}.parquet"] = time.time()
                if name == "restart" and i == args.pools // 2:
                    down = time.time()
                    server.close()  # SIGTERM, then started again on the same database and port
                    server = ExitStack()
                    server.enter_context(prefect_server(root / "server", database, port=port))
                    notes = f"server down {time.time() - down:.1f} s after pool {i}"
            deadline = time.time() + 1800
            while time.time() < deadline:
                runs = [r for r in pool_runs(api, landed_id) if r["parameters"]["pools"][0] in landed]
                finished = [r for r in runs if r["state_type"] in TERMINAL]
                if {r["parameters"]["pools"][0] for r in finished} >= set(landed) and len(finished) == len(runs):
                    break
                if serve.poll() is not None:
                    notes += f"; curate serve exited {serve.returncode}"
                    break
                time.sleep(2)
            all_done = time.time() - began
        finally:
            health.stopped.set()
            stop(serve)
            server.close()
    by_pool: dict[str, list[dict]] = {}
    for run in runs:
        by_pool.setdefault(run["parameters"]["pools"][0], []).append(run)
    latency = sorted(
        min(datetime.fromisoformat(r["created"]).timestamp() for r in by_pool[pool]) - at
        for pool, at in landed.items()
        if pool in by_pool
    )
    completed = {pool for pool, rs in by_pool.items() if any(r["state_type"] == "COMPLETED" for r in rs)}
    curations = Counter(r["parameters"]["pools"][0] for r in runs if r["state_name"] == "Completed")
    return {
        "commit": commit(), "scenario": name, "pools": len(landed), "within_s": args.within,
        "runs_created": len(runs), "completed": len(completed),
        "extra_runs": len(runs) - len(by_pool), "duplicated": sum(n - 1 for n in curations.values()),
        "lost": len(set(landed) - completed),
        "latency_p50_s": round(float(np.percentile(latency, 50)), 2) if latency else "",
        "latency_p95_s": round(float(np.percentile(latency, 95)), 2) if latency else "",
        "all_done_s": round(all_done, 1), "health_max_s": round(health.slowest, 3), "health_failed": health.failed,
        "notes": "; ".join([notes, *not_completed(by_pool)]).strip("; "),
    }  # fmt: skip


def not_completed(by_pool: dict[str, list[dict]]) -> list[str]:
    """A line for each pool with no completed run: its runs' states and messages' first lines."""
    return [
        f"{pool.rsplit('/', 1)[-1]}: "
        + ", ".join(
            f"{r['state_name']} ({(r['state'] or {}).get('message') or ''})".splitlines()[0][:160] for r in runs
        )
        for pool, runs in sorted(by_pool.items())
        if not any(r["state_type"] == "COMPLETED" for r in runs)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pools", type=int, default=50)
    parser.add_argument("--within", type=float, default=60.0)
    parser.add_argument("--scenarios", default="plain,restart")
    parser.add_argument("--again", action="store_true", help="measure a scenario already in the CSV once more")
    args = parser.parse_args()
    from postgres import postgres_server

    before = done_before()
    with postgres_server() as pg:
        for name in args.scenarios.split(","):
            if (commit(), name) in before and not args.again:
                print(f"{name}: already measured at {commit()}")
                continue
            with tempfile.TemporaryDirectory(prefix=f"burst-{name}-") as root:
                row = scenario(name, args, Path(root), pg)
            write_row(row)
            print(row, flush=True)


if __name__ == "__main__":
    main()
