"""Golden outputs: the same runs at two commits give identical scores, selections, evaluations and counts.

A refactor must not change what the tool computes. This script checks out each commit in a git
worktree, runs `curate run` (the real command line, a temporary Prefect server per run) on fixed
inputs, and compares the outputs: `scores.parquet` and `selection.parquet` must be equal value for
value and in order; report.json's `evaluation` and `counts` must be equal.

    python benchmarks/golden_outputs.py BEFORE AFTER [--work DIR] [--cases demo-a,wronglabel,...]
    python benchmarks/golden_outputs.py --compare DIR_A DIR_B    # two earlier captures

The inputs (data and the demo's base model) are built once, by this checkout's code, and shared
by both commits. The cases: the demo's two pools (prompt/response rows, the demo model, one cache
as `curate demo` has), the wrong-label pool (feature rows, `linear`), the same pool with `mlp`,
a `text` pool (the demo's rows as plain text) and the chat demo's conversations (a ShareGPT array
and `messages` lines) on the demo model. About 12 minutes per commit on 2 cores.
Exit code: 0 when every case matches, 1 otherwise (the differences are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks" / "quality"))

CASES = ("demo-a", "demo-b", "wronglabel", "features-mlp", "text-rows", "chat")


def build_inputs(work: Path) -> dict[str, dict[str, str]]:
    """Each case's `curate run` options (paths under `work/inputs`), built once."""
    from wronglabel import task

    from curation.chat_demo import write_chat_demo
    from curation.demo import build_demo_model, write_demo_data

    inputs = work / "inputs"
    demo = write_demo_data(str(inputs / "demo"))
    model = build_demo_model(str(inputs / "model"))
    labelled = {}
    for name, frame in task().items():
        labelled[name] = str(inputs / "labelled" / f"{name}.parquet")
        if not os.path.exists(labelled[name]):
            os.makedirs(os.path.dirname(labelled[name]), exist_ok=True)
            frame.to_parquet(labelled[name])
    text = {}
    for name in ("validation", "test", "pool_a"):
        text[name] = str(inputs / "text" / f"{name}.parquet")
        if not os.path.exists(text[name]):
            os.makedirs(os.path.dirname(text[name]), exist_ok=True)
            frame = pd.read_parquet(demo[name])
            frame = frame.assign(text=frame["prompt"] + frame["response"]).drop(columns=["prompt", "response"])
            (frame.iloc[:600] if name == "pool_a" else frame).to_parquet(text[name])
    chat = write_chat_demo(str(inputs / "chat"))
    on_demo = {"validation": demo["validation"], "test": demo["test"], "model": model, "budget": "100"}
    on_labelled = {"pool": labelled["pool"], "validation": labelled["validation"], "test": labelled["test"]}
    return {
        "demo-a": {**on_demo, "pool": demo["pool_a"], "cache": "demo"},
        "demo-b": {**on_demo, "pool": demo["pool_b"], "cache": "demo"},
        "wronglabel": {**on_labelled, "model": "linear", "budget": "300"},
        "features-mlp": {**on_labelled, "model": "mlp", "budget": "300"},
        "text-rows": {
            "pool": text["pool_a"],
            "validation": text["validation"],
            "test": text["test"],
            "model": model,
            "budget": "60",
        },
        "chat": {**chat, "model": model, "budget": "20"},  # both chat forms, the tiny model's plain template
    }


def capture(commit: str, work: Path, cases: dict[str, dict[str, str]]) -> Path:
    """Run every case at `commit` (a git worktree); its outputs under work/<commit>/<case>."""
    sha = subprocess.run(["git", "rev-parse", commit], cwd=REPO, check=True, capture_output=True, text=True).stdout
    sha = sha.strip()[:12]
    tree, out = work / f"tree-{sha}", work / sha
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=REPO, check=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "PREFECT_API_URL": "", "PYTHONWARNINGS": "ignore"}
    for case, options in cases.items():
        if (out / case / "report.json").exists():
            print(f"{sha} {case}: captured before", flush=True)
            continue
        cache = str(out / "cache" / options.get("cache", case))
        flags = [f"--{k}={v}" for k, v in options.items() if k != "cache"]
        started = time.perf_counter()
        command = [sys.executable, "-m", "flows.cli", "run", *flags, "--out", str(out / case), "--cache", cache]
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{sha} {case} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
        print(f"{sha} {case}: {time.perf_counter() - started:.0f} s", flush=True)
    return out


def differences(a: Path, b: Path, case: str) -> list[str]:
    """What differs between two captures of one case (empty: identical)."""
    found = []
    for name in ("scores.parquet", "selection.parquet"):
        left, right = pd.read_parquet(a / case / name), pd.read_parquet(b / case / name)
        if list(left.columns) != list(right.columns):
            found.append(f"{name}: columns {list(left.columns)} != {list(right.columns)}")
            continue
        try:
            pd.testing.assert_frame_equal(left, right, check_exact=True)
        except AssertionError as err:
            found.append(f"{name}: {' '.join(str(err).split())[:300]}")
    reports = [json.loads((side / case / "report.json").read_text()) for side in (a, b)]
    for key in ("evaluation", "counts"):
        if reports[0].get(key) != reports[1].get(key):
            found.append(f"report.json {key}: {reports[0].get(key)} != {reports[1].get(key)}")
    return found


def compare(a: Path, b: Path, cases: list[str]) -> int:
    failed = 0
    for case in cases:
        found = differences(a, b, case)
        rows = len(pd.read_parquet(a / case / "scores.parquet"))
        print(f"{case}: {'identical' if not found else 'DIFFERENT'} ({rows} scored rows)")
        for line in found:
            print(f"  {line}")
        failed += bool(found)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("commits", nargs="*", help="BEFORE AFTER (any git revisions)")
    parser.add_argument("--compare", nargs=2, metavar="DIR", help="compare two earlier captures")
    parser.add_argument("--work", default="/tmp/golden-outputs", help="inputs, worktrees and captures")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    cases = args.cases.split(",")
    if args.compare:
        return compare(Path(args.compare[0]), Path(args.compare[1]), cases)
    if len(args.commits) != 2:
        parser.error("give two commits, or --compare DIR_A DIR_B")
    work = Path(args.work).resolve()
    options = {case: found for case, found in build_inputs(work).items() if case in cases}
    before, after = (capture(commit, work, options) for commit in args.commits)
    return compare(before, after, cases)


if __name__ == "__main__":
    sys.exit(main())
