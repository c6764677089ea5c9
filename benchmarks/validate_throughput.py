"""Ingest + validate of a large pool through `curate run`, and a second target on the validated pool.

    python benchmarks/validate_throughput.py --rows 1000000             # text and feature rows, ~5 min
    python benchmarks/validate_throughput.py --rows 100000 --kinds text # a quick one

What a user sees: each run is `python -m flows.cli run` in its own process (Python, Prefect and
Great Expectations imports, the ephemeral API included), on a Parquet pool of `--rows` rows:

- text: prompt/response rows (benchmarks/ingest_memory.py's docstring paragraphs made unique by a
  row number) on the demo's small GPT-2 (built here), so the target checks tokenize (trained tokens);
- features: 16-dimensional feature rows with labels 0-2, `--model linear`.

Per kind: a fresh cache, target A (its own 200-row validation set), then target B (another 200
rows) on the same cache: the pool is checked once, B only admits it. `--method random` and
`--skip-finetune`, so what follows validation costs next to nothing; the figures are each run's
report.json `ingest` + `validate` seconds (`rows/s` = pool rows / that) and the process's wall
time. One CSV row per run: benchmarks/results/validate_throughput.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
CSV = REPO / "benchmarks" / "results" / "validate_throughput.csv"


def feature_pool(path: Path, rows: int, chunk: int = 200_000) -> None:
    rng = np.random.default_rng(0)
    schema = pa.schema([("features", pa.list_(pa.float32())), ("label", pa.int64())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            x = rng.normal(size=(n, 16)).astype(np.float32)
            features = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 16).cast(pa.list_(pa.float32()))
            writer.write_table(
                pa.table({"features": features, "label": pa.array(rng.integers(0, 3, n))}, schema=schema)
            )


def feature_validation(path: Path, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    x = rng.normal(size=(200, 16)).astype(np.float32) + 0.5
    pd.DataFrame({"features": list(x), "label": np.arange(200) % 3}).to_parquet(path)


def text_validation(path: Path, name: str) -> None:
    from curation.demo import corpus

    rows = corpus().iloc[:200]
    rows.assign(response=[f"{r} <{name} target>" for r in rows["response"]])[["prompt", "response"]].to_parquet(path)


def run(args: list[str], out: Path) -> dict:
    began = time.perf_counter()
    env = {**os.environ, "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false"}
    command = [sys.executable, "-m", "flows.cli", "run", *args, "--out", str(out), "--method", "random"]
    done = subprocess.run(
        [*command, "--budget", "100", "--skip-finetune"], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"curate run failed ({done.returncode}): {done.stderr.strip()[-1500:]}")
    report = json.loads((out / "report.json").read_text())
    return {"report": report, "wall s": round(time.perf_counter() - began, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--kinds", default="text,features")
    parser.add_argument("--label", default="", help="a name for these rows in the CSV (default: the commit)")
    args = parser.parse_args()
    from ingest_memory import write_pool

    from curation.demo import corpus
    from curation.tinylm import build_model

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="validate-throughput-") as root:
        root = Path(root)
        for kind in args.kinds.split(","):
            pool = root / f"{kind}-pool.parquet"
            if kind == "text":
                write_pool(str(pool), args.rows)
                model = build_model(
                    str(root / "lm"), list(corpus()["response"]), layers=2, width=64, heads=4, context=256
                )
                validations = [root / f"text-{n}.parquet" for n in ("a", "b")]
                for path, name in zip(validations, ("a", "b")):
                    text_validation(path, name)
            else:
                feature_pool(pool, args.rows)
                model, validations = "linear", [root / f"features-{n}.parquet" for n in ("a", "b")]
                for seed, path in enumerate(validations):
                    feature_validation(path, seed)
            cache = root / f"cache-{kind}"
            for target, validation in zip("AB", validations):
                found = run(
                    ["--pool", str(pool), "--validation", str(validation), "--model", model, "--cache", str(cache)],
                    root / f"out-{kind}-{target}",
                )
                timings = found["report"]["timings"]
                seconds = timings.get("ingest", 0.0) + timings.get("validate", 0.0)
                row = {
                    "label": args.label or commit, "commit": commit, "kind": kind, "rows": args.rows, "target": target,
                    "pool cache": found["report"]["cache"].get("pool", ""), "ingest s": timings.get("ingest", 0.0),
                    "validate s": timings.get("validate", 0.0), "ingest+validate s": round(seconds, 2),
                    "rows/s": round(args.rows / seconds) if seconds else None, "wall s": found["wall s"],
                }  # fmt: skip
                CSV.parent.mkdir(exist_ok=True)
                pd.DataFrame([row]).to_csv(CSV, mode="a", header=not CSV.exists(), index=False)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
