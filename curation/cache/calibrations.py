"""The calibration's cache: the reference sample pinned per target, each calibration's result, and
`--method auto`'s choice read from it.

- The reference sample is the pool rows of smallest content hash (deterministic, whatever their
  order). The first pool curated for a target gives it; it is pinned at `<cache>/reference/<key>/`
  (key: the validation rows' hash, the sample size and the model with its reading settings), so
  every later pool is judged against the same rows and finds the calibration again: the
  calibration is a property of the target, like θT.
- A calibration's result (the chosen config and the grid's table) is `<cache>/calibration/<key>/`,
  the method choice `<cache>/method-choice/<key>/`: entries whose manifest is the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.cache.entry import DirectoryEntry, Stored, obtain
from curation.cache.integrity import Damaged
from curation.cache.keys import reference_key
from curation.calibration import Calibration
from curation.hashing import dataset_hash
from curation.method_choice import MethodChoice
from curation.rows import HASH_COLUMN

T = TypeVar("T")

REFERENCE_FILE = "reference.parquet"


def reference_sample(parts: list[str], rows: int, columns: tuple[str, ...]) -> pd.DataFrame:
    """The `rows` valid pool rows of smallest content hash, read shard by shard (memory: a shard).

    Only `columns` are kept (those a model reads: the row format's `model_columns`): pass-through
    columns may be typed differently per file.
    """
    best: pa.Table | None = None
    for part in parts:
        names = pq.read_schema(part).names
        table = pq.read_table(part, columns=[c for c in columns if c in names])
        if best is not None:
            table = pa.concat_tables([best, table.select(best.column_names)])
        order = pc.sort_indices(table, sort_keys=[(HASH_COLUMN, "ascending")])
        best = table.take(order[:rows])
    return best.to_pandas() if best is not None else pd.DataFrame()


@dataclass(frozen=True)
class ReferenceSample:
    """A target's pinned reference sample of the pool and the hash of its rows."""

    rows: pd.DataFrame
    hash: str


@dataclass(frozen=True)
class ReferenceEntry(DirectoryEntry[ReferenceSample]):
    """The reference sample of `size` rows pinned for a validation set under the model's reading settings
    (`model`: `model_identity`, so a sample admitted under other settings is never reused); built from
    the valid `parts` of the pool at hand when none is pinned yet."""

    validation_hash: str
    size: int
    model: Any
    parts: tuple[str, ...]
    columns: tuple[str, ...]
    folder = "reference"
    what = "reference sample"

    @property
    def key(self) -> str:
        return reference_key(self.validation_hash, self.size, self.model)

    def build(self, local: str) -> dict[str, Any]:
        frame = reference_sample(list(self.parts), self.size, self.columns)
        if not len(frame):
            raise ValueError("the pool has no valid row to sample a reference from")
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), f"{local}/{REFERENCE_FILE}")
        return {"rows": len(frame), "hash": dataset_hash(frame[HASH_COLUMN])}

    def open(self, stored: Stored, built: bool) -> ReferenceSample:
        frame = stored.read_parquet(REFERENCE_FILE).to_pandas()
        if HASH_COLUMN not in frame.columns or not len(frame):
            raise Damaged(f"{stored.url}: the reference sample has no rows")
        return ReferenceSample(frame, dataset_hash(frame[HASH_COLUMN]))


@dataclass(frozen=True)
class FactsEntry(DirectoryEntry[T]):
    """An entry that is its facts alone: `compute` makes the value when the cache has none, and the
    value type (`parse`: a `from_dict(facts, status)`) reads it back, with its key."""

    entry_key: str
    compute: Callable[[], T]
    parse: ClassVar[Callable[[dict, str], Any]]

    @property
    def key(self) -> str:
        return self.entry_key

    def build(self, local: str) -> dict[str, Any]:
        return self.compute().as_dict()

    def open(self, stored: Stored, built: bool) -> T:
        try:
            found = type(self).parse(stored.facts, "miss" if built else "hit")
        except Exception as err:
            raise Damaged(f"{stored.url}: unreadable {self.what} ({type(err).__name__}: {err})") from None
        found.key = self.key
        return found


class CalibrationEntry(FactsEntry[Calibration]):
    """A calibration under `calibration_key`; `compute` runs the grid when the cache has none."""

    folder = "calibration"
    what = "calibration"
    parse = Calibration.from_dict


class MethodChoiceEntry(FactsEntry[MethodChoice]):
    """`--method auto`'s choice under `method_choice_key`; `compute` judges the candidates when the cache has none."""

    folder = "method-choice"
    what = "method choice"
    parse = MethodChoice.from_dict


def pinned_reference(entry: ReferenceEntry, cache: str) -> ReferenceSample:
    """The target's reference sample: the pinned one, or this pool's, pinned now."""
    return obtain(entry, cache).value


def obtain_calibration(compute: Callable[[], Calibration], cache: str, key: str) -> Calibration:
    """The calibration stored under `key` (a `hit`), or `compute()`'s, stored (once, under a lock)."""
    return obtain(CalibrationEntry(key, compute), cache).value


def obtain_method_choice(compute: Callable[[], MethodChoice], cache: str, key: str) -> MethodChoice:
    """`--method auto`'s choice stored under `key` (a `hit`), or `compute()`'s, stored (once, under a lock)."""
    return obtain(MethodChoiceEntry(key, compute), cache).value
