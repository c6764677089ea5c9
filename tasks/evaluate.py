"""Evaluate: the finetuned models on held-out target rows, and the lift of selection over random."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.models import FinetuneConfig, ModelAdapter
from curation.report import Evaluation
from curation.run.context import TargetRun


def lift(adapter: ModelAdapter, selection: dict[str, float], control: dict[str, float]) -> float:
    """How much better the selection scored than random on the adapter's metric (> 0 is better)."""
    delta = selection[adapter.metric] - control[adapter.metric]
    return float(delta if adapter.higher_is_better else -delta)


def compare(adapter: ModelAdapter, selected: Any, control: Any, rows: pd.DataFrame) -> dict[str, Any]:
    """Metrics of both finetunes on the evaluation rows, and the lift."""
    on_selection = adapter.evaluate(selected, rows)
    on_control = adapter.evaluate(control, rows)
    return {
        "metric": adapter.metric,
        "higher_is_better": adapter.higher_is_better,
        "selection": on_selection,
        "random": on_control,
        "lift": lift(adapter, on_selection, on_control),
        "rows": int(len(rows)),
    }


@task(name="evaluate", tags=["evaluate"], persist_result=False, cache_policy=NO_CACHE)
def evaluate(run: TargetRun, selected: Any, control: Any, finetune: FinetuneConfig) -> Evaluation:
    """Evaluate the selection's and the random control's finetunes on the target's evaluation rows."""
    adapter, target = run.adapter, run.target
    result = compare(adapter, selected, control, target.eval_rows)
    adapter.release(selected)
    adapter.release(control)
    get_run_logger().info("lift over random on %s (%s): %+.4f", result["metric"], target.eval_set, result["lift"])
    return Evaluation(**result, eval_set=target.eval_set, finetune=finetune.as_dict())
