"""`curate compare`: several selection methods on one pool, side by side.

Each method is a `curate` subflow run into `<out>/<method>/` with the same inputs, budget and
seed; the lossdrop variants share one warmup (the cache key does not depend on the method) and
one row-score cache, so the second of them costs scoring's reading only. The table, in
`<out>/comparison.md` and `<out>/comparison.csv` and as the artifact `method-comparison`, gives
the target metric after finetuning on each selection, the lift over the random control of the
same size, and what each method cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from prefect import flow

from curation.config import CurateConfig, Method
from curation.errors import InputError
from curation.report import Report
from curation.scorers import METHODS
from curation.storage import join, write_bytes_atomic
from flows.curate import curate


def method_list(methods: str | list[str] | None) -> list[str]:
    """`--methods` (comma-separated, or a list): each a registered method or `auto`, each once; default
    all of them."""
    known = [*METHODS, "auto"]
    if methods is None:
        return known
    names = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else list(methods)
    names = [m for m in names if m]
    unknown = [m for m in names if m not in known]
    if not names or unknown or len(set(names)) != len(names):
        raise InputError(f"methods {names}: each once, among {', '.join(known)}", field="--methods")
    return names


def comparison_table(reports: dict[str, Report]) -> pd.DataFrame:
    """One row per method: metric after finetune, lift over random, cost."""
    rows = []
    for method, report in reports.items():
        evaluation, cost = report.evaluation, report.cost
        metric = evaluation.metric if evaluation else None
        rows.append(
            {
                "method": method if report.method_choice is None else f"auto → {report.effective.method}",
                "metric": metric,
                "selection": evaluation.selection[metric] if metric else None,
                "random control": evaluation.random[metric] if metric else None,
                "lift over random": evaluation.lift if evaluation else None,
                "score seconds": cost.score_seconds,
                "warmup seconds": report.timings.get("warmup", 0.0),
                "warmup": report.cache.warmup,
                "scoring forward passes": cost.scoring_forward_passes,
                "scoring backward passes": cost.scoring_backward_passes,
                "bytes stored": cost.bytes_stored,
                "outputs": report.config.out,
            }
        )
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
    lines = [
        f"# Method comparison on `{pool}` (budget {budget:g})",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + " --- |" * len(columns),
    ]
    lines += ["| " + " | ".join(cell(c, row[c]) for c in columns) + " |" for _, row in table.iterrows()]
    return "\n".join(lines) + (
        "\n\nLift over random: how much better the selection did than a random "
        "selection of the same size on the metric; > 0 is better (for a loss, the "
        "control's loss minus the selection's)."
    )


@dataclass
class Comparison:
    table: list[dict[str, Any]]
    markdown: str
    reports: dict[str, Report]


@flow(name="curate-compare", log_prints=True)
def compare(run: CurateConfig, methods: list[Method]) -> Comparison:
    """Run each method on the same pool and inputs; write and return the side-by-side table.

    Args:
        run: The options every method's run shares (its `method` is replaced, its `out` gets a folder per method).
        methods: The methods to compare, each once.
    """
    from prefect.artifacts import create_markdown_artifact

    methods = method_list(methods)
    reports = {
        method: curate(run.model_copy(update={"method": method, "out": join(run.out, method), "trends": None}))
        for method in methods
    }
    table = comparison_table(reports)
    text = markdown(table, run.budget, run.pool)
    write_bytes_atomic(join(run.out, "comparison.csv"), table.to_csv(index=False).encode())
    write_bytes_atomic(join(run.out, "comparison.md"), (text + "\n").encode())
    create_markdown_artifact(
        key="method-comparison", markdown=text, description=f"selection methods compared on {run.pool}"
    )
    return Comparison(table.to_dict("records"), text, reports)
