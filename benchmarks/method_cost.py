"""What scoring costs, lossdrop vs gradcos, on the same pools: time, passes and bytes per row.

    python benchmarks/method_cost.py     # ~2 min on 2 cores

The demo's text task (docstring paragraphs, web target) with a small GPT-2 built here. Pool A,
then pool B, each through `curate compare --methods lossdrop,gradcos` in its own process, with
one cache shared by both: lossdrop's warmup (on the validation set) is trained for pool A and
found in the cache for pool B; gradcos's warmup trains on a sample of each pool, so every new
pool pays for it again. The figures are each run's own report.json; the two methods of a pool
run side by side in one process, so their ratio is what to read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.flow_benchmarks import text_task  # noqa: E402


def compare(task: dict[str, str], pool: str, out: Path, cache: Path) -> dict[str, dict]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "compare",
            "--pool",
            task[pool],
            "--validation",
            task["validation"],
            "--test",
            task["test"],
            "--model",
            task["model"],
            "--budget",
            "100",
            "--out",
            str(out),
            "--cache",
            str(cache),
            "--methods",
            "lossdrop,gradcos",
        ],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # As in the quality benchmarks (see quality/common.py): no ~2 s SQLite lock waits.
        env={**os.environ, "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false"},
    )
    return {m: json.loads((out / m / "report.json").read_text()) for m in ("lossdrop", "gradcos")}


def row(pool: str, method: str, report: dict) -> dict:
    cost, rows = report["cost"], report["counts"]["valid"]
    return {
        "pool": pool,
        "method": method,
        "rows": rows,
        "warmup": report["cache"]["warmup"],
        "warmup steps": cost["warmup_steps"],
        "warmup s": report["timings"].get("warmup", 0.0),
        "score s": cost["score_seconds"],
        "score ms/row": 1000 * cost["score_seconds"] / rows,
        "forward/row": cost["scoring_forward_passes"] / rows,
        "backward/row": cost["scoring_backward_passes"] / rows,
        "bytes stored": cost["bytes_stored"],
        "bytes/row": cost["bytes_stored"] / rows,
        "lift": report["evaluation"]["lift"],
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="method-cost-") as root:
        task = text_task(Path(root))
        cache, records = Path(root) / "cache", []
        for pool in ("pool_a", "pool_b"):
            reports = compare(task, pool, Path(root) / pool, cache)
            records += [row(pool, m, r) for m, r in reports.items()]
    table = pd.DataFrame(records)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    for _, r in table.iterrows():
        lines.append(
            "| "
            + " | ".join(f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v) for v in r)
            + " |"
        )
    ratios = []
    for pool, group in table.groupby("pool"):
        lossdrop, gradcos = group.set_index("method").loc["lossdrop"], group.set_index("method").loc["gradcos"]

        def seconds(method) -> float:  # score + warmup
            return method["score s"] + method["warmup s"]

        ratios.append(
            f"{pool}: gradcos/lossdrop score time ×{gradcos['score s'] / lossdrop['score s']:.1f}, "
            f"score + warmup time ×{seconds(gradcos) / seconds(lossdrop):.1f}, "
            f"bytes ×{gradcos['bytes stored'] / lossdrop['bytes stored']:.0f}"
        )
    print("\n".join(lines + [""] + ratios))


if __name__ == "__main__":
    main()
