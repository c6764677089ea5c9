"""The calibration's cache: the reference sample pinned per target, and each calibration's result.

- The reference sample is the pool rows of smallest content hash (deterministic, whatever their
  order). The first pool curated for a target gives it; it is pinned at
  `<cache>/calibration/reference-<key>.parquet` (key: the validation rows' hash, the sample
  size and the model with its reading settings), so every later pool is judged against the same
  rows and finds the calibration again: the calibration is a property of the target, like θT.
- A calibration's result (the chosen config and the grid's table) is
  `<cache>/calibration/<key>.json`, written atomically under a lock, so two runs compute it once;
  `--method auto`'s choice read from it is `<cache>/calibration/choice-<key>.json`, the same way.

A damaged entry (unreadable Parquet or JSON, fields missing) is set aside and rebuilt.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.cache_keys import reference_key
from curation.calibration import Calibration
from curation.hashing import dataset_hash
from curation.integrity import set_aside, warn
from curation.locks import exclusive
from curation.method_choice import MethodChoice
from curation.rows import HASH_COLUMN
from curation.storage import exists, join, read_json, read_parquet, write_json_atomic, write_parquet_atomic

T = TypeVar("T", Calibration, MethodChoice)


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


def pinned_reference(
    cache: str, validation_hash: str, parts: list[str], rows: int, columns: tuple[str, ...], model: Any
) -> tuple[pd.DataFrame, str]:
    """The target's reference sample (of `columns`) and its hash: the pinned one, or this pool's, pinned
    now. `model`: `model_identity`, so a sample admitted under other reading settings is never reused."""
    url = join(cache, "calibration", f"reference-{reference_key(validation_hash, rows, model)}.parquet")
    if exists(url):
        try:
            frame = read_parquet(url)
            if HASH_COLUMN in frame.columns and len(frame):
                return frame, dataset_hash(frame[HASH_COLUMN])
            raise ValueError("no rows")
        except Exception as err:  # cut short, altered: rebuilt from this pool
            set_aside(cache, url, f"{url}: unreadable reference sample ({type(err).__name__})")
    frame = reference_sample(parts, rows, columns)
    write_parquet_atomic(url, frame)
    return frame, dataset_hash(frame[HASH_COLUMN])


def obtain_calibration(compute: Callable[[], Calibration], cache: str, key: str) -> Calibration:
    """The calibration stored under `key` (a `hit`), or `compute()`'s, stored (once, under a lock)."""
    return obtain_entry(compute, Calibration.from_dict, cache, key, "calibration")


def obtain_method_choice(compute: Callable[[], MethodChoice], cache: str, key: str) -> MethodChoice:
    """`--method auto`'s choice stored under `key` (a `hit`), or `compute()`'s, stored (once, under a lock)."""
    return obtain_entry(compute, MethodChoice.from_dict, cache, f"choice-{key}", "method choice")


def obtain_entry(compute: Callable[[], T], load: Callable[[dict, str], T], cache: str, name: str, what: str) -> T:
    """The JSON entry `<cache>/calibration/<name>.json` read by `load`, or `compute()`'s, stored once
    under a lock (a second run waits for the first); a damaged entry is set aside and rebuilt."""
    url = join(cache, "calibration", f"{name}.json")

    def stored() -> T | None:
        if not exists(url):
            return None
        try:
            return load(read_json(url), "hit")
        except Exception as err:
            set_aside(cache, url, f"{url}: unreadable {what} ({type(err).__name__}: {err})")
            return None

    found = stored()
    if found is not None:
        return found
    waiting = lambda: warn("another run is computing this %s (%s); waiting for it", what, name[:18])  # noqa: E731
    with exclusive(cache, f"calibration-{name}", on_wait=waiting):
        found = stored()
        if found is not None:
            return found
        entry = compute()
        write_json_atomic(url, entry.as_dict())
        return entry
