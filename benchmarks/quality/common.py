"""What the quality benchmarks share: run `curate compare` per seed, summarize over seeds.

Every method runs through the real flow (`flows.compare.compare`, one `curate` subflow per
method) on a local temporary Prefect server started once per benchmark process, so the figures
are the product's, not a re-implementation's. Results go to benchmarks/quality/results/.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
RESULTS = Path(__file__).resolve().parent / "results"
# The order of the published tables; `auto` is the default (issue 27), its rows name what it chose.
METHODS = ["random", "lossdrop", "lossdrop-raw", "embedding", "gradcos", "blend", "auto"]


def run_compare(out: Path, methods: list[str], paths: dict[str, Any], **run: Any) -> pd.DataFrame:
    """One `curate compare` flow run on `paths` (its pool, validation and test sets); returns its
    comparison table (one row per method)."""
    run = {"pool": paths["pool"], "validation": paths["validation"], "test": paths["test"], **run}
    from curation.config import CurateConfig
    from flows.compare import compare

    options = {name: str(value) if isinstance(value, Path) else value for name, value in run.items()}
    result = compare(CurateConfig.parse(**{"seed": 0, **options}, out=str(out)), methods)
    return pd.DataFrame(result.table)


# lossdrop's variants besides the default (θ0 start, calibrated warmup): issue 13's start × warmup
VARIANTS = {
    "θ1 calibrated": {"start": "theta1"},
    "θ0 fixed": {"warmup": "fixed"},
    "θ1 fixed": {"start": "theta1", "warmup": "fixed"},
}


def run_variants(out: Path, paths: dict[str, Any], variants: bool = True, **run: Any) -> pd.DataFrame:
    """Every method with the defaults, then (with `variants`) lossdrop and lossdrop-raw under each of
    VARIANTS; one row per run with its `variant` name, the `dir` of its outputs and, for `auto`, the
    method it `chose`."""
    tables = []
    for name, options in {"": {}, **(VARIANTS if variants else {})}.items():
        where = out / (name.replace(" ", "-") or "default")
        methods = METHODS if not name else ["lossdrop", "lossdrop-raw"]
        table = run_compare(where, methods, paths, **run, **options)
        table["chose"] = [m.split(" → ")[1] if " → " in m else "" for m in table["method"]]
        table["method"] = [m.split(" → ")[0] for m in table["method"]]
        table["variant"] = [f"{m} {name}" if name else m for m in table["method"]]
        table["dir"] = [str(where / m) for m in table["method"]]
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def choices(frame: pd.DataFrame, by: list[str]) -> str:
    """What `auto` chose, per seed (and per any other column of `by`): a markdown table."""
    rows = frame[frame["method"] == "auto"]
    lines = ["| " + " | ".join(by) + " | auto chose |", "|" + " --- |" * (len(by) + 1)]
    lines += ["| " + " | ".join(str(r[c]) for c in by) + f" | {r['chose']} |" for _, r in rows.iterrows()]
    return "\n".join(lines)


def print_runs(label: str, runs: list[dict], metric: str) -> None:
    """One progress line per compare run: each method's metric."""
    print(f"{label}: " + ", ".join(f"{r['method']} {r[metric]:.3f}" for r in runs), flush=True)


def spread(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, standard deviation, min and max of `value` over seeds, per group."""
    grouped = frame.groupby(by, sort=False)[value]
    return grouped.agg(["mean", "std", "min", "max", "count"]).reset_index()


def markdown_table(frame: pd.DataFrame, index: str, columns: str, value: str, digits: int = 3) -> str:
    """A pivot of 'mean ± std' cells: rows `index`, columns `columns`."""
    stats = spread(frame, [index, columns], value)
    stats["cell"] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(stats["mean"], stats["std"].fillna(0.0))]
    pivot = stats.pivot(index=index, columns=columns, values="cell")
    pivot = pivot[[c for c in frame[columns].drop_duplicates()]]
    header = f"| {index} | " + " | ".join(str(c) for c in pivot.columns) + " |"
    lines = [header, "|" + " --- |" * (len(pivot.columns) + 1)]
    lines += [f"| {i} | " + " | ".join(pivot.loc[i]) + " |" for i in frame[index].drop_duplicates()]
    return "\n".join(lines)


def save(name: str, frame: pd.DataFrame, text: str, started: float) -> None:
    """results/<name>.csv (every run), results/<name>.md (the summary) and a line on stdout."""
    RESULTS.mkdir(exist_ok=True)
    frame.to_csv(RESULTS / f"{name}.csv", index=False)
    minutes = (time.perf_counter() - started) / 60
    (RESULTS / f"{name}.md").write_text(text + f"\n\nWall time: {minutes:.1f} min on {os.cpu_count()} cores.\n")
    print(text)
    print(f"\nwritten: {RESULTS / (name + '.csv')}, {RESULTS / (name + '.md')} ({minutes:.1f} min)")


def quiet() -> None:
    """Benchmarks print their tables, not every flow's log lines; and run on a local server
    without its task-run recorder.

    On the SQLite server the recorder's batched writes hold the database's write lock, and a
    task's first tag-concurrency lease of a flow run waits ~2 s behind it: in a benchmark that
    runs hundreds of short flows that wait, not the methods, would dominate the wall time. The
    flows, tasks and their results are unchanged; only the UI's task-run records are missing.
    """
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import warnings

    warnings.filterwarnings("ignore")


def write(frame: pd.DataFrame, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return str(path)


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)


def summary(frame: pd.DataFrame, index: str, values: dict[str, int]) -> str:
    """One row per `index` value, one 'mean ± std' column per value (with its digits)."""
    lines = [f"| {index} | " + " | ".join(values) + " |", "|" + " --- |" * (len(values) + 1)]
    for key, group in frame.groupby(index, sort=False):
        cells = [
            f"{group[v].mean():.{d}f} ± {group[v].std(ddof=1) if len(group) > 1 else 0.0:.{d}f}"
            for v, d in values.items()
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
