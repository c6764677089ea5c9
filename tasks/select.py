"""Select: the best-scored rows within a budget; stratified by label on labelled pools.

Plain top-k by score was measured to collapse onto the easiest classes (a selection 99.8% clean
and still 6 points worse than random, three classes nearly absent); stratifying by label in
proportion to the validation set's labels turned that into +10 points over random.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.errors import InputError

STRATEGIES = ("auto", "stratified", "topk", "threshold")


def budget_rows(budget: float, pool_rows: int) -> int:
    """A budget of B ≥ 1 rows, or a fraction 0 < B < 1 of the pool (at least one row)."""
    if not math.isfinite(budget):
        raise InputError(f"budget must be a row count ≥ 1 or a fraction in (0, 1), got {budget}", field="--budget")
    if budget >= 1:
        if float(budget) != int(budget):
            raise InputError(f"budget {budget} is neither a whole row count nor a fraction below 1",
                             field="--budget")
        return min(int(budget), pool_rows)
    if budget <= 0:
        raise InputError(f"budget must be a row count ≥ 1 or a fraction in (0, 1), got {budget}",
                         field="--budget")
    return max(1, int(round(budget * pool_rows)))


def ranking(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions from best to worst score; ties broken by id so the order is deterministic.

    Sorts the float scores alone, then re-sorts by id only the runs of equal scores (rare with
    real losses), so no array of millions of strings is ever built.
    """
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    edges = np.flatnonzero(np.diff(ranked) != 0) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, len(ranked)]
    for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
        run = order[start:end]
        order[start:end] = run[np.argsort(_ids_at(ids, run), kind="stable")]
    return order


def _ids_at(ids, positions: np.ndarray) -> np.ndarray:
    """ids[positions] as strings; `ids` may be a NumPy array or an Arrow array (kept compact)."""
    if isinstance(ids, np.ndarray):
        return ids[positions].astype(str)
    return np.array(ids.take(positions).to_pylist(), dtype=str)


def label_quotas(k: int, target_shares: dict[int, float]) -> dict[int, int]:
    """Split k rows over labels in proportion to the shares (largest remainder, ties by label)."""
    labels = sorted(target_shares)
    raw = np.array([k * target_shares[label] for label in labels])
    quotas = np.floor(raw).astype(int)
    remainder_order = sorted(range(len(labels)), key=lambda i: (-(raw[i] - quotas[i]), labels[i]))
    for i in remainder_order[: k - int(quotas.sum())]:
        quotas[i] += 1
    return {label: int(q) for label, q in zip(labels, quotas)}


def select_positions(scores: np.ndarray, ids: np.ndarray, k: int, strategy: str,
                     labels: np.ndarray | None = None, target_shares: dict[int, float] | None = None,
                     seed: int = 0) -> np.ndarray:
    """Positions of the k selected rows, best first."""
    order = ranking(scores, ids)
    if strategy == "topk":
        return order[:k]
    if strategy == "threshold":
        # Sample among rows the warmup helped (positive drop); fill from the top if too few.
        positive = order[np.asarray(scores)[order] > 0]
        if len(positive) <= k:
            rest = order[~np.isin(order, positive)]
            return np.concatenate([positive, rest[: k - len(positive)]])
        picked = np.random.default_rng(seed).choice(len(positive), size=k, replace=False)
        return positive[np.sort(picked)]
    if strategy != "stratified":
        raise InputError(f"unknown selection strategy {strategy!r}; use one of {STRATEGIES}",
                         field="--selection")
    quotas = label_quotas(k, target_shares)
    ranked_labels = np.asarray(labels)[order]
    chosen = np.zeros(len(order), dtype=bool)
    for label, quota in quotas.items():
        in_label = np.flatnonzero(ranked_labels == label)[:quota]
        chosen[in_label] = True
    # A label with too few rows leaves its quota to the best remaining rows of any label.
    shortfall = k - int(chosen.sum())
    if shortfall > 0:
        chosen[np.flatnonzero(~chosen)[:shortfall]] = True
    return order[chosen]


def random_positions(n: int, k: int, seed: int) -> np.ndarray:
    """The random control: k positions drawn uniformly, sorted."""
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def selection_frame(chosen: pd.DataFrame, scores: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
    """id, score, rank, then the selected rows' original columns (`chosen`: the rows at `positions`)."""
    chosen = chosen.reset_index(drop=True)
    extra = chosen.drop(columns=["id"])
    head = pd.DataFrame({"id": chosen["id"], "score": np.asarray(scores)[positions],
                         "rank": np.arange(1, len(positions) + 1)})
    return pd.concat([head, extra.drop(columns=[c for c in ("score", "rank") if c in extra])], axis=1)


@task(name="select", tags=["select"], persist_result=False, cache_policy=NO_CACHE)
def select(scores: np.ndarray, ids: np.ndarray, labels: np.ndarray | None, k: int, strategy: str,
           target_shares: dict[int, float] | None, seed: int) -> np.ndarray:
    """Pick the k rows to train on."""
    return select_positions(scores, ids, k, strategy, labels, target_shares, seed)
