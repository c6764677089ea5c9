"""A validated pool: where its valid rows were spilled (Parquet parts, the shards) and what was set aside."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


@dataclass
class PoolCheck:
    """Outcome of validating one pool: where its valid rows are, and what was set aside."""

    valid_parts: list[str]
    quarantine: pd.DataFrame
    rows_read: int
    valid_rows: int
    reasons: dict[str, int]
    expectations: list[dict[str, Any]]
    pool_hash: str
    files: list[str] = field(default_factory=list)

    def load_valid(self) -> pd.DataFrame:
        """All valid rows in memory, in pool order (small pools and tests; the flow uses `take`)."""
        return pd.concat([pq.read_table(p).to_pandas() for p in self.valid_parts], ignore_index=True)

    def column(self, name: str) -> np.ndarray:
        """One column of the valid rows, in pool order, read part by part."""
        return np.concatenate([pq.read_table(p, columns=[name]).column(name).to_numpy(zero_copy_only=False)
                               for p in self.valid_parts])

    def take(self, positions: np.ndarray) -> pd.DataFrame:
        """The valid rows at these positions (in pool order numbering), in the order given.

        Only the parts that hold a wanted row are read, so memory follows the selection's size.
        """
        sizes = [pq.ParquetFile(p).metadata.num_rows for p in self.valid_parts]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        positions = np.asarray(positions, dtype=np.int64)
        owner = np.searchsorted(starts, positions, side="right") - 1
        pieces = []
        for part in np.unique(owner):
            wanted = np.flatnonzero(owner == part)
            rows = pq.read_table(self.valid_parts[part]).to_pandas().iloc[positions[wanted] - starts[part]]
            pieces.append(rows.set_index(pd.Index(wanted)))
        return pd.concat(pieces).sort_index().reset_index(drop=True)
