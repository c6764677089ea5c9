"""End-to-end figures of the scoring stage, each from real `curate run` processes.

    python benchmarks/flow_benchmarks.py warm-cache   # cached warmup vs cold; 90% known rows vs fresh
    python benchmarks/flow_benchmarks.py scale        # classifier: rows/s and peak RSS at 10k, 100k, 1M
    python benchmarks/flow_benchmarks.py resume       # kill at half the shards, rerun vs remaining half
    python benchmarks/flow_benchmarks.py ray          # Ray with 2 workers vs the local engine, same pool

Times are the flow's own per-stage timings from report.json (the Prefect server's start-up is
not counted); runs that are compared run one after the other in one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def curate(args: list[str], kill_when=None) -> tuple[dict | None, float]:
    """Run `curate run ARGS` in a new process; returns (report, peak RSS in MB)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_when is not None:
        while process.poll() is None and not kill_when():
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    _, status, usage = os.wait4(process.pid, 0)
    if kill_when is None and status != 0:
        raise RuntimeError(process.stderr.read())
    out = Path(args[args.index("--out") + 1])
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    return report, usage.ru_maxrss / 1024


def text_task(root: Path) -> dict[str, str]:
    """The demo's data and a small GPT-2 (pretrained briefly) built from the demo's generic text."""
    from curation.demo import pretraining_texts, write_demo_data
    from curation.tinylm import build_model

    paths = write_demo_data(str(root / "data"))
    build_model(
        str(root / "model"),
        pretraining_texts(),
        layers=2,
        width=64,
        heads=4,
        context=256,
        pretrain_steps=200,
        batch_size=16,
    )
    paths["model"] = str(root / "model")
    return paths


def warm_cache(root: Path) -> dict:
    task = text_task(root)
    common = ["--validation", task["validation"], "--model", task["model"], "--budget", "100", "--skip-finetune"]
    a, b = pd.read_parquet(task["pool_a"]), pd.read_parquet(task["pool_b"])
    n = int(0.8 * min(len(a), len(b)))
    m = n // 10
    # 90% of the rows were scored with pool A; the other 10% and the fresh pool are new to the cache.
    pd.concat([a.iloc[: n - m], b.iloc[:m]]).to_parquet(root / "known90.parquet")
    b.iloc[m : m + n].to_parquet(root / "fresh.parquet")

    def stages(report, names=("ingest", "validate", "warmup", "score")):
        return sum(report["timings"].get(s, 0.0) for s in names)

    cold, _ = curate(["--pool", task["pool_b"], "--out", str(root / "cold"), "--cache", str(root / "c1"), *common])
    curate(["--pool", task["pool_a"], "--out", str(root / "a"), "--cache", str(root / "c2"), *common])
    warm, _ = curate(["--pool", task["pool_b"], "--out", str(root / "warm"), "--cache", str(root / "c2"), *common])
    curate(["--pool", task["pool_a"], "--out", str(root / "a3"), "--cache", str(root / "c3"), *common])
    repeat, _ = curate(
        ["--pool", str(root / "known90.parquet"), "--out", str(root / "k"), "--cache", str(root / "c3"), *common]
    )
    fresh, _ = curate(
        ["--pool", str(root / "fresh.parquet"), "--out", str(root / "f"), "--cache", str(root / "c3"), *common]
    )
    return {
        "cold_run_s": round(stages(cold), 2),
        "cached_warmup_run_s": round(stages(warm), 2),
        "warm_over_cold": round(stages(warm) / stages(cold), 3),
        "warmup_cold_s": cold["timings"]["warmup"],
        "warmup_hit_s": warm["timings"]["warmup"],
        "pool_rows": n,
        "fresh_pool_score_s": fresh["timings"]["score"],
        "known90_pool_score_s": repeat["timings"]["score"],
        "known90_rows_scored": repeat["cache"]["rows_scored"],
        "known90_rows_reused": repeat["cache"]["rows_reused"],
        "fresh_rows_scored": fresh["cache"]["rows_scored"],
        "known90_over_fresh_score": round(repeat["timings"]["score"] / fresh["timings"]["score"], 3),
    }


def scale(root: Path, sizes=(10_000, 100_000, 1_000_000)) -> list[dict]:
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(32, 10))

    def write(path, n, chunk=100_000):
        import pyarrow as pa
        import pyarrow.parquet as pq

        with pq.ParquetWriter(path, pa.schema([("features", pa.list_(pa.float32())), ("label", pa.int64())])) as w:
            for start in range(0, n, chunk):
                x = rng.normal(size=(min(chunk, n - start), 32)).astype(np.float32)
                w.write_table(pa.table({"features": list(x), "label": (x @ weights).argmax(1)}))

    write(root / "validation.parquet", 500)
    results = []
    for n in sizes:
        write(root / f"pool-{n}.parquet", n)
        report, rss = curate(
            [
                "--pool",
                str(root / f"pool-{n}.parquet"),
                "--validation",
                str(root / "validation.parquet"),
                "--model",
                "linear",
                "--budget",
                "0.01",
                "--skip-finetune",
                "--out",
                str(root / f"o{n}"),
                "--cache",
                str(root / f"c{n}"),
            ]
        )
        t = report["timings"]
        results.append(
            {
                "rows": n,
                "score_rows_per_s": round(n / t["score"]),
                "ingest_validate_score_rows_per_s": round(n / (t["ingest"] + t["validate"] + t["score"])),
                "peak_rss_mb": round(rss, 1),
            }
        )
        print(json.dumps(results[-1]), flush=True)
        os.remove(root / f"pool-{n}.parquet")
    return results


def big_pool_args(root: Path, task: dict, name: str, shard_rows: int, *extra: str) -> list[str]:
    """`curate run` flags for `root/big.parquet`: selection only, shards of `shard_rows`, its own output and cache."""
    return [
        "--pool",
        str(root / "big.parquet"),
        "--validation",
        task["validation"],
        "--model",
        task["model"],
        "--budget",
        "100",
        "--skip-finetune",
        "--shard-rows",
        str(shard_rows),
        "--out",
        str(root / name),
        "--cache",
        str(root / f"cache-{name}"),
        *extra,
    ]


def resume(root: Path) -> dict:
    task = text_task(root)
    pool = pd.concat([pd.read_parquet(task["pool_a"]), pd.read_parquet(task["pool_b"])] * 4, ignore_index=True)
    pool["response"] = [f"{r} [{i}]" for i, r in enumerate(pool["response"])]
    pool.drop(columns=["id"]).to_parquet(root / "big.parquet")
    shard_rows = 500
    shards = -(-len(pool) // shard_rows)

    def args(name):
        return big_pool_args(root, task, name, shard_rows)

    full, _ = curate(args("full"))

    def done() -> bool:
        return len(list((root / "cache-killed").glob("row-scores/*/shard-*.parquet"))) >= shards // 2

    curate(args("killed"), kill_when=done)
    finished = len(list((root / "cache-killed").glob("row-scores/*/shard-*.parquet")))
    rerun, _ = curate(args("killed"))
    remaining_share = (shards - finished) / shards
    return {
        "rows": len(pool),
        "shards": shards,
        "shards_done_at_kill": finished,
        "uninterrupted_score_s": full["timings"]["score"],
        "rerun_score_s": rerun["timings"]["score"],
        "rerun_over_remaining": round(rerun["timings"]["score"] / (full["timings"]["score"] * remaining_share), 3),
        "rerun_total_stages_s": round(sum(rerun["timings"].values()), 2),
        "identical_selection": pd.read_parquet(root / "full" / "selection.parquet").equals(
            pd.read_parquet(root / "killed" / "selection.parquet")
        ),
    }


def ray_vs_local(root: Path) -> dict:
    task = text_task(root)
    pool = pd.concat([pd.read_parquet(task["pool_a"]), pd.read_parquet(task["pool_b"])] * 3, ignore_index=True)
    pool["response"] = [f"{r} [{i}]" for i, r in enumerate(pool["response"])]
    pool.drop(columns=["id"]).to_parquet(root / "big.parquet")

    def args(name, *engine):
        return big_pool_args(root, task, name, 500, *engine)

    # Only the scoring stage is compared; for Ray it includes starting the local instance.
    local, _ = curate(args("local"))
    ray, _ = curate(args("ray", "--engine", "ray", "--workers", "2"))
    return {
        "rows": len(pool),
        "shards": local["scoring"]["shards"],
        "local_1_process_score_s": local["timings"]["score"],
        "ray_2_workers_score_s": ray["timings"]["score"],
        "ray_workers_used": ray["scoring"]["workers_used"],
        "speedup_ray_over_local": round(local["timings"]["score"] / ray["timings"]["score"], 3),
        "identical_scores": pd.read_parquet(root / "local" / "scores.parquet").equals(
            pd.read_parquet(root / "ray" / "scores.parquet")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["warm-cache", "scale", "resume", "ray"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        result = {"warm-cache": warm_cache, "scale": scale, "resume": resume, "ray": ray_vs_local}[args.which](
            Path(root)
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
