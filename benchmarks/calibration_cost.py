"""What `--method auto` costs a fresh target on the real model, and what it chooses: one commit's code.

    python benchmarks/calibration_cost.py --label after                        # this checkout, 3 seeds
    git worktree add /tmp/before ff7f385 && \
    python benchmarks/calibration_cost.py --code /tmp/before --label before    # the code before, same data

The ShareGPT benchmark's setting (benchmarks/quality/sharegpt.py `--first-exchanges`: 40 validation
conversations, a 500-conversation pool with the Python topic at 15%, SmolLM2-135M-Instruct,
`--max-length 128`, budget 75, `--skip-finetune`), a target for which `embedding` wins. Each
(label, seed) runs `curate run --method auto` in its own process (`python -m flows.cli run`, the
code of `--code`) with a fresh cache, so the calibration is paid in full; the figures are its
report.json: the calibrate and choose stages' seconds, the method chosen with its held-out auc − ½,
and the target's share of the selection over its pool share. One CSV row per finished run
(benchmarks/results/calibration_cost.csv); a restarted run skips the (label, seed) rows it holds.
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

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks" / "quality"))
sys.path.insert(0, str(REPO))
CSV = REPO / "benchmarks" / "results" / "calibration_cost.csv"


def commit_of(code: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=code, capture_output=True, text=True
    ).stdout.strip()


def run_auto(code: Path, data: dict, out: Path, seed: int) -> dict:
    """One `curate run --method auto` with the code in `code` and a fresh cache; its report.json."""
    command = [
        sys.executable, "-m", "flows.cli", "run", "--pool", data["pool"], "--validation", data["validation"],
        "--model", data["model"], "--out", str(out / "run"), "--cache", str(out / "cache"),
        "--budget", str(data["budget"]), "--skip-finetune", "--max-length", "128", "--method", "auto",
        "--seed", str(seed), "--warmup-seed", str(seed),
    ]  # fmt: skip
    env = {**os.environ, "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false"}
    done = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"curate run failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads((out / "run" / "report.json").read_text())


def row_of(report: dict, data: dict, out: Path) -> dict:
    """The CSV row: seconds per stage, the choice and its figure, what the selection found."""
    picked = pd.read_parquet(out / "run" / "selection.parquet", columns=["topic"])["topic"].mean()
    share = pd.read_json(data["pool"], lines=True)["topic"].mean()
    choice = report.get("method_choice") or {}
    chosen = next((c for c in choice.get("candidates", []) if c["chosen"]), {})
    lossdrop = next((c for c in choice.get("candidates", []) if c["method"] == "lossdrop"), {})
    calibration = report.get("calibration") or {}
    timings = report["timings"]
    return {
        "calibrate s": timings.get("calibrate", 0.0),
        "choose s": timings.get("choose", 0.0),
        "warmup s": timings.get("warmup", 0.0),
        "score s": timings.get("score", 0.0),
        "chose": report["effective"]["method"],
        "chosen auc-½": chosen.get("specificity"),
        "lossdrop auc-½": lossdrop.get("specificity"),
        "× pool share": round(picked / share, 4),
        "grid": calibration.get("grid", ""),
        "steps trained": calibration.get("steps_trained", 0),
        "candidates judged": len(calibration.get("table", [])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", default=str(REPO), help="the checkout whose code runs (default: this one)")
    parser.add_argument("--label", required=True, help="the CSV's name for this code: before, after…")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "calibration-cost"))
    args = parser.parse_args()
    from sharegpt import conversations, first_exchanges, task

    from curation.config import default_cache_dir
    from curation.model_fetch import fetch

    cache = default_cache_dir()
    model = fetch("smollm2", cache=cache)
    exchanges = first_exchanges(conversations(cache))
    code, work = Path(args.code).resolve(), Path(args.work)
    for seed in range(args.seeds):
        done = pd.read_csv(CSV) if CSV.exists() else pd.DataFrame(columns=["label", "seed"])
        if ((done["label"] == args.label) & (done["seed"] == seed)).any():
            continue
        data = {**task(exchanges, seed, 500, work / f"data-{seed}"), "model": model}
        out = work / f"{args.label}-{seed}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        began = time.perf_counter()
        report = run_auto(code, data, out, seed)
        row = {"label": args.label, "commit": commit_of(code), "seed": seed, **row_of(report, data, out)}
        row["run s"] = round(time.perf_counter() - began, 1)
        CSV.parent.mkdir(exist_ok=True)
        pd.concat([done, pd.DataFrame([row])], ignore_index=True).to_csv(CSV, index=False)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
