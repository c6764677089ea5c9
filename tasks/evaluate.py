"""Evaluate: the finetuned models on held-out target rows, and the lift of selection over random."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.models import ModelAdapter
from curation.errors import InputError
from curation.rows import FILE_COLUMN, HASH_COLUMN


def holdout_split(validation: pd.DataFrame, share: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the validation set into (warmup rows, evaluation rows) by content hash.

    Used when no --test is given: the evaluation rows are never seen by the warmup. The split
    depends only on row content, so it is the same for any file order.
    """
    ranks = validation[HASH_COLUMN].rank(method="first").to_numpy() - 1
    every = max(2, int(round(1 / share)))
    if len(validation) < every:
        file = str(validation[FILE_COLUMN].iloc[0]) if FILE_COLUMN in validation and len(validation) else None
        raise InputError(f"the validation set has {len(validation)} rows: without --test, one row in {every} is "
                         f"held out for evaluation, so it needs at least {every}", file=file, field="--test",
                         hint="add validation rows or give a test set with --test")
    held = (ranks % every) == every - 1
    return validation[~held].reset_index(drop=True), validation[held].reset_index(drop=True)


def lift(adapter: ModelAdapter, selection: dict[str, float], control: dict[str, float]) -> float:
    """How much better the selection scored than random on the adapter's metric (> 0 is better)."""
    delta = selection[adapter.metric] - control[adapter.metric]
    return float(delta if adapter.higher_is_better else -delta)


def compare(adapter: ModelAdapter, selected: Any, control: Any, rows: pd.DataFrame) -> dict[str, Any]:
    """Metrics of both finetunes on the evaluation rows, and the lift."""
    on_selection = adapter.evaluate(selected, rows)
    on_control = adapter.evaluate(control, rows)
    return {"metric": adapter.metric, "higher_is_better": adapter.higher_is_better,
            "selection": on_selection, "random": on_control,
            "lift": lift(adapter, on_selection, on_control), "rows": int(len(rows))}


@task(name="evaluate", tags=["evaluate"], persist_result=False, cache_policy=NO_CACHE)
def evaluate(adapter: ModelAdapter, selected: Any, control: Any, rows: pd.DataFrame) -> dict[str, Any]:
    """Evaluate the selection's and the random control's finetunes on the target rows."""
    result = compare(adapter, selected, control, rows)
    adapter.release(selected)
    adapter.release(control)
    return result


