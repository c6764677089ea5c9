"""Duplicates across a streamed pool: a key seen in this batch or any earlier one, in sorted runs
that merge like an LSM tree; the duplicate checks' figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from curation.validation.duplicates import SeenKeys, uniqueness


def test_a_key_repeats_one_seen_in_this_batch_or_any_earlier_one():
    rng = np.random.default_rng(0)
    seen, truth, found = SeenKeys(), set(), []
    for size in [1, 5, 3, 40, 2, 17, 64, 1, 9]:
        batch = pd.Series(rng.integers(0, 120, size=size)).map(lambda v: f"key-{v}")
        expected = []
        for value in batch:
            expected.append(value in truth)
            truth.add(value)
        found.append(seen.repeated(batch).tolist() == expected)
        sizes = [len(run) for run in seen.runs]
        assert sizes == sorted(sizes, reverse=True) and all(a > b for a, b in zip(sizes, sizes[1:]))
    assert all(found)


def test_values_are_compared_as_text():
    seen = SeenKeys()
    assert seen.repeated(pd.Series([1, 2])).tolist() == [False, False]
    assert seen.repeated(pd.Series(["1", "3", "3"])).tolist() == [True, False, True]


def test_the_duplicate_figures_read_the_quarantine():
    quarantine = pa.table({"id": ["a", "b", "c"], "reason": ["duplicate", "duplicate", "null_response"]})
    content, ids = uniqueness(10, quarantine)
    assert content == {
        "expectation": "unique content (content hash)",
        "reason": "duplicate",
        "rows_checked": 10,
        "rows_failed": 2,
        "success": False,
    }
    assert ids["reason"] == "duplicate_id" and ids["rows_failed"] == 0 and ids["success"] is True
