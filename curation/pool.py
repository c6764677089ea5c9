"""What the validate stage hands on: the checked target (`Target`, with the `Reference` every pool
must match) and the pool admitted for it (`AdmittedPool`: where its valid rows were spilled, as Parquet
parts that are the shards, and what was set aside)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from curation.errors import InputError
from curation.formats import ModelKind, RowFormat, format_named
from curation.formats.base import Reading
from curation.hashing import dataset_hash
from curation.rows import HASH_COLUMN


@dataclass(frozen=True)
class Reference:
    """What the validation set fixes for every other file: the row format, feature length, labels."""

    format: str  # a registered row format's name (curation.formats)
    feature_dim: int | None = None
    labels: tuple[int, ...] = ()
    reading: Reading | None = None  # how a causal LM reads the rows (None: a classifier, or unknown)

    @property
    def row_format(self) -> RowFormat:
        return format_named(self.format)

    @property
    def fixed(self) -> dict:
        """What the validation set fixed, as the row format's `target_checks` take it."""
        return {"feature_dim": self.feature_dim, "labels": self.labels, "reading": self.reading}

    @property
    def kind(self) -> ModelKind:
        """The kind of models that read the rows: `text` (a causal LM) or `features` (a classifier)."""
        return self.row_format.kind


@dataclass(frozen=True)
class Target:
    """The target task, checked: the reference every pool must match, the rows θT warms up on, and
    the rows the finetunes are evaluated on (the test set, or a held-out quarter of the validation set)."""

    ref: Reference
    validation: pd.DataFrame
    warm_rows: pd.DataFrame
    eval_rows: pd.DataFrame
    eval_set: str  # "test" or "validation-holdout"
    forbidden: frozenset[str]  # content hashes of the validation and test rows: never trained on

    @property
    def num_classes(self) -> int | None:
        return max(self.ref.labels) + 1 if self.ref.labels else None

    @property
    def validation_hash(self) -> str:
        return dataset_hash(self.validation[HASH_COLUMN])

    @property
    def label_shares(self) -> dict[int, float] | None:
        """The validation set's label shares, which a stratified selection follows (feature rows)."""
        if self.ref.kind != "features":
            return None
        return self.validation["label"].value_counts(normalize=True).to_dict()


@dataclass
class AdmittedPool:
    """The pool admitted for one target: where its rows that passed every check (the pool's own, then
    the target's) are, and what was set aside. Its rows' pool-wide checks are cached (`CheckedPool`)."""

    valid_parts: list[str]
    quarantine: pd.DataFrame
    rows_read: int
    valid_rows: int
    reasons: dict[str, int]
    expectations: list[dict[str, Any]]
    pool_hash: str
    files: list[str] = field(default_factory=list)
    cache: str = "miss"  # the validated-pool cache: "hit" (checked by an earlier run) or "miss"
    truncated: int = 0  # admitted chat rows longer than the token limit, cut by --truncation
    damaged: int = 0  # damaged validated-pool cache entries set aside (and checked again) on the way

    def load_valid(self) -> pd.DataFrame:
        """All valid rows in memory, in pool order (small pools and tests; the flow uses `take`)."""
        return pd.concat([pq.read_table(p).to_pandas() for p in self.valid_parts], ignore_index=True)

    def column(self, name: str) -> np.ndarray:
        """One column of the valid rows, in pool order, read part by part."""
        return np.concatenate(
            [pq.read_table(p, columns=[name]).column(name).to_numpy(zero_copy_only=False) for p in self.valid_parts]
        )

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


class PoolRejected(InputError):
    """A pool refused as a whole (too large a share of its rows invalid), carrying its check: the run
    still publishes the quarantine and the expectations that refused it."""

    def __init__(self, message: str, pool: AdmittedPool, **where: Any):
        super().__init__(message, **where)
        self.pool = pool
