"""`curate compare`: several selection methods on one pool, side by side.

Each method is a `curate` subflow run into `<out>/<method>/` with the same inputs, budget and
seed; the lossdrop variants share one warmup (the cache key does not depend on the method) and
one row-score cache, so the second of them costs scoring's reading only. The table, in
`<out>/comparison.md` and `<out>/comparison.csv` and as the artifact `method-comparison`, gives
the target metric after finetuning on each selection, the lift over the random control of the
same size, and what each method cost.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import flow

from curation.errors import InputError
from curation.storage import join, write_bytes_atomic
from flows.curate import curate
from tasks.score import METHODS


def comparison_table(reports: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per method: metric after finetune, lift over random, cost."""
    rows = []
    for method, report in reports.items():
        evaluation, cost = report.get("evaluation") or {}, report["cost"]
        metric = evaluation.get("metric")
        rows.append({
            "method": method,
            "metric": metric,
            "selection": evaluation["selection"][metric] if metric else None,
            "random control": evaluation["random"][metric] if metric else None,
            "lift over random": evaluation.get("lift"),
            "score seconds": cost["score_seconds"],
            "warmup seconds": report["timings"].get("warmup", 0.0),
            "warmup": report["cache"]["warmup"],
            "scoring forward passes": cost["scoring_forward_passes"],
            "scoring backward passes": cost["scoring_backward_passes"],
            "bytes stored": cost["bytes_stored"],
            "outputs": report["config"]["out"],
        })
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, budget: float, pool: str) -> str:
    def cell(column: str, value: Any) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "–"
        if column == "lift over random":
            return f"**{value:+.4f}**"
        if column.endswith("seconds"):
            return f"{value:.2f}"
        if column == "bytes stored":
            return f"{value:,}"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    columns = [c for c in table.columns if c != "outputs"]
    lines = [f"# Method comparison on `{pool}` (budget {budget:g})", "",
             "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(c, row[c]) for c in columns) + " |" for _, row in table.iterrows()]
    return "\n".join(lines) + ("\n\nLift over random: how much better the selection did than a random "
                               "selection of the same size on the metric; > 0 is better (for a loss, the "
                               "control's loss minus the selection's).")


@flow(name="curate-compare", log_prints=True)
def compare(methods: list[str], out: str, run: dict[str, Any]) -> dict[str, Any]:
    """Run each method on the same pool and inputs; write and return the side-by-side table."""
    from prefect.artifacts import create_markdown_artifact

    unknown = [m for m in methods if m not in METHODS]
    if unknown or len(set(methods)) != len(methods):
        raise InputError(f"methods {methods}: each once, among {', '.join(METHODS)}", field="--methods")
    reports = {method: curate(**run, method=method, out=join(out, method)) for method in methods}
    table = comparison_table(reports)
    text = markdown(table, run["budget"], run["pool"])
    write_bytes_atomic(join(out, "comparison.csv"), table.to_csv(index=False).encode())
    write_bytes_atomic(join(out, "comparison.md"), (text + "\n").encode())
    create_markdown_artifact(key="method-comparison", markdown=text,
                             description=f"selection methods compared on {run['pool']}")
    return {"table": table.to_dict("records"), "markdown": text}
