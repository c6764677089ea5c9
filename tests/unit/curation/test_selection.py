"""Selection: budgets, deterministic ties, stratification by the validation set's labels."""

from __future__ import annotations

import numpy as np
import pytest

from curation.config import CurateConfig
from curation.errors import InputError
from curation.selection import Pick, Strata, budget_rows, label_quotas, ranking, select_positions


def test_budget_counts_and_fractions():
    assert budget_rows(10, 100) == 10
    assert budget_rows(0.25, 100) == 25
    assert budget_rows(0.001, 100) == 1
    assert budget_rows(500, 100) == 100
    with pytest.raises(InputError) as error:  # the config refuses a budget that is neither
        CurateConfig.parse(pool="p", out="o", validation="v", model="linear", budget=2.5)
    assert error.value.field == "--budget"


def test_ties_are_broken_by_id():
    scores = np.array([1.0, 2.0, 1.0, 2.0])
    ids = np.array(["d", "c", "b", "a"])
    assert ranking(scores, ids).tolist() == [3, 1, 2, 0]


def test_quotas_follow_shares_and_sum_to_k():
    assert label_quotas(10, {0: 0.5, 1: 0.3, 2: 0.2}) == {0: 5, 1: 3, 2: 2}
    quotas = label_quotas(7, {0: 1 / 3, 1: 1 / 3, 2: 1 / 3})
    assert sum(quotas.values()) == 7 and max(quotas.values()) - min(quotas.values()) <= 1


def test_stratified_keeps_label_proportions_where_topk_collapses():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2, 3], 250)
    # class 0 is "easy": all its scores are above every other class's
    scores = rng.random(1000) + np.where(labels == 0, 10.0, 0.0)
    ids = np.array([f"r{i}" for i in range(1000)])
    shares = {0: 0.25, 1: 0.25, 2: 0.25, 3: 0.25}
    topk = select_positions(scores, ids, Pick(200, "topk"))
    assert set(labels[topk]) == {0}
    picked = select_positions(scores, ids, Pick(200, "stratified"), Strata(labels, shares))
    assert np.bincount(labels[picked]).tolist() == [50, 50, 50, 50]
    for label in range(4):  # within a label, the best-scored rows
        mine = picked[labels[picked] == label]
        assert scores[mine].min() >= np.sort(scores[labels == label])[-50]


def test_stratified_fills_a_short_label_from_the_best_remaining():
    labels = np.array([0] * 10 + [1] * 2)
    scores = np.arange(12, dtype=float)
    ids = np.array([f"r{i:02d}" for i in range(12)])
    picked = select_positions(scores, ids, Pick(8, "stratified"), Strata(labels, {0: 0.5, 1: 0.5}))
    assert len(picked) == 8 and set(picked) >= {10, 11}


def test_threshold_samples_positive_rows_deterministically():
    scores = np.array([0.5, -0.1, 0.2, 0.9, -0.3, 0.1])
    ids = np.array(list("abcdef"))
    first = select_positions(scores, ids, Pick(2, "threshold", seed=3))
    assert np.array_equal(first, select_positions(scores, ids, Pick(2, "threshold", seed=3)))
    assert all(scores[first] > 0)
    assert set(select_positions(scores, ids, Pick(5, "threshold"))) == {0, 2, 3, 5, 1}


def test_ties_are_broken_by_id_with_arrow_ids_too():
    import pyarrow as pa

    scores = np.array([1.0, 2.0, 1.0, 2.0])
    assert ranking(scores, pa.chunked_array([["d", "c", "b", "a"]])).tolist() == [3, 1, 2, 0]
