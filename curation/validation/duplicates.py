"""Duplicates across a streamed pool: which content hashes and ids earlier batches held, in 8 bytes
a row, and the duplicate checks' figures in the form of the suite's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


class SeenKeys:
    """Which 64-bit keys earlier batches held, in 8 bytes a row.

    Keys live in sorted runs whose sizes at least double from newest to oldest (merged like an
    LSM tree), so a lookup costs O(log n) runs and a merge never copies more than the runs it joins.
    """

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []

    def repeated(self, values: pd.Series) -> np.ndarray:
        """True where a value repeats one seen before (in this batch or an earlier one)."""
        keys = pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy()
        repeated = pd.Series(keys).duplicated().to_numpy().copy()  # writable: pandas hands out read-only views
        for run in self.runs:
            at = np.minimum(np.searchsorted(run, keys), len(run) - 1)
            repeated |= run[at] == keys
        self.runs.append(np.sort(keys))
        while len(self.runs) > 1 and len(self.runs[-1]) >= len(self.runs[-2]):
            newest = self.runs.pop()
            merged = np.concatenate([self.runs.pop(), newest])
            del newest
            merged.sort()
            self.runs.append(merged)
        return repeated


def uniqueness(rows_read: int, quarantine: pa.Table) -> list[dict[str, Any]]:
    """The duplicate checks' figures, in the form of the suite's."""
    reasons = quarantine.column("reason").to_pylist()
    return [
        {
            "expectation": name,
            "reason": reason,
            "rows_checked": rows_read,
            "rows_failed": reasons.count(reason),
            "success": reason not in reasons,
        }
        for name, reason in (("unique content (content hash)", "duplicate"), ("unique ids", "duplicate_id"))
    ]
