"""What the scan, the target's checks and admission share: the tables of checks, the Great
Expectations suite over them and the facts it reads, ids and content hashes, rejected rows as one table."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from curation.formats import Check, Limits, RowFormat, missing_columns
from curation.formats.base import common_checks
from curation.pool import Reference
from curation.rows import FILE_COLUMN, HASH_COLUMN
from curation.storage import arrow_table


def first_file(frame: pd.DataFrame) -> str:
    """The file a frame's first row came from ("?" if none)."""
    return str(frame[FILE_COLUMN].iloc[0]) if FILE_COLUMN in frame and len(frame) else "?"


def require_format(frame: pd.DataFrame, row_format: RowFormat, name: str) -> None:
    """An InputError naming the file and column if the frame lacks a column the target's format requires."""
    if row_format.missing(frame.columns) is not None:
        raise missing_columns([row_format], frame.columns, first_file(frame), name, ", as the validation set has")


def pool_checks(row_format: RowFormat, frame_columns, limits: Limits) -> list[Check]:
    """The checks that involve no target: every row's, then the format's."""
    return [*common_checks("id" in frame_columns), *row_format.checks(limits)]


def suite(name: str, checks: list[Check], facts):
    """The Great Expectations suite of these checks (GX imported here, on first use)."""
    from curation.expectations import RowSuite

    return RowSuite(name, checks, facts)


def all_facts(ref: Reference):
    """The facts the checks of a file (raw rows) or of cached valid rows (normalized) read: the format's
    own and the target's."""
    row_format = ref.row_format
    return lambda frame: {**row_format.facts(frame), **row_format.target_facts(frame, ref.fixed)}


def assign_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Ids as strings; rows without one get their content hash."""
    frame = frame.copy()
    if "id" in frame.columns:
        ids = frame["id"].astype("object")
        frame["id"] = ids.where(ids.notna(), frame[HASH_COLUMN]).map(str)
    else:
        frame["id"] = frame[HASH_COLUMN].astype(str)
    return frame


def hashed(frame: pd.DataFrame, row_format: RowFormat) -> pd.DataFrame:
    """The frame with each row's content hash."""
    return frame.assign(**{HASH_COLUMN: row_format.row_hashes(frame)})


def concat_rejects(tables: list[pa.Table]) -> pa.Table:
    """Rejected rows of several batches as one table. Their pass-through columns may disagree on type
    (a `label` of `true` in one batch, of 0 in another): such columns are then merged as pandas
    objects and kept as JSON text where Arrow cannot type them (`arrow_table`)."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return arrow_table(pd.concat([t.to_pandas() for t in tables], ignore_index=True))
