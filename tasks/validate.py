"""Validate: check rows against the file contract with Great Expectations; quarantine bad pool rows.

The validation and test sets define the target, so any bad row there is a hard error. A pool is
large and messy: it is streamed batch by batch, its bad rows are quarantined with a reason and
the run goes on with the rest, unless the pool as a whole is unusable (a required column
missing, no valid rows, more than `max_reject_share` of rows rejected). Valid rows are spilled to
local Parquet parts, so memory stays flat however large the pool.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.errors import InputError
from curation.formats import Check, Family, Limits, RowFormat, detect, missing_columns
from curation.formats.base import common_checks
from curation.hashing import DatasetHasher
from curation.pool import PoolCheck, Reference, Target
from curation.rows import FILE_COLUMN, HASH_COLUMN, ROW_COLUMN, UNICODE_COLUMN
from curation.storage import arrow_table
from tasks.ingest import Source, iter_batches


def _first_file(frame: pd.DataFrame) -> str:
    return str(frame[FILE_COLUMN].iloc[0]) if FILE_COLUMN in frame and len(frame) else "?"


def _require_format(frame: pd.DataFrame, ref: Reference, name: str) -> None:
    """An InputError naming the file and column if the frame lacks a column the target's format requires."""
    if ref.row_format.missing(frame.columns) is not None:
        raise missing_columns([ref.row_format], frame.columns, _first_file(frame), name, ", as the validation set has")


def _checks(ref: Reference, frame_columns, limits: Limits, forbidden: frozenset[str] = frozenset()) -> list[Check]:
    """The table of checks for rows of the target's format: every row's, the format's, then the target's."""
    row_format = ref.row_format
    checks = [*common_checks("id" in frame_columns), *row_format.checks(limits), *row_format.target_checks(ref.fixed)]
    if forbidden:  # leakage: a pool row identical to a validation or test row is never trained on
        leak = Check(
            "leakage",
            "id",
            "ExpectColumnValuesToNotBeInSet",
            HASH_COLUMN,
            {"value_set": sorted(forbidden)},
            "the row is identical to a validation or test row",
        )
        checks.append(leak)
    return checks


def _suite(name: str, ref: Reference, frame_columns, limits: Limits, forbidden: frozenset[str] = frozenset()):
    from curation.expectations import RowSuite

    return RowSuite(name, _checks(ref, frame_columns, limits, forbidden), ref.row_format.facts)


def _assign_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Ids as strings; rows without one get their content hash."""
    frame = frame.copy()
    if "id" in frame.columns:
        ids = frame["id"].astype("object")
        frame["id"] = ids.where(ids.notna(), frame[HASH_COLUMN]).map(str)
    else:
        frame["id"] = frame[HASH_COLUMN].astype(str)
    return frame


def _hashed(frame: pd.DataFrame, row_format: RowFormat) -> pd.DataFrame:
    return frame.assign(**{HASH_COLUMN: row_format.row_hashes(frame)})


def reference_from(
    validation: pd.DataFrame, family: Family, limits: Limits = Limits()
) -> tuple[Reference, pd.DataFrame]:
    """Detect the validation set's row format, check it strictly and derive the reference every other
    file must match."""
    row_format = detect(validation.columns, family, _first_file(validation), "validation set")
    fixed = row_format.fixed_by(validation)
    ref = Reference(row_format.name, fixed.get("feature_dim"), fixed.get("labels", ()))
    checked = check_strict(_hashed(validation, row_format), ref, "validation set", limits)
    if family == "features" and checked["label"].nunique() < 2:
        raise InputError(
            "the validation set needs at least two distinct labels", file=_first_file(validation), field="label"
        )
    return ref, checked


def check_strict(frame: pd.DataFrame, ref: Reference, name: str, limits: Limits = Limits()) -> pd.DataFrame:
    """Validate a validation or test file (content hashes added): its first bad row is an InputError."""
    _require_format(frame, ref, name)
    if HASH_COLUMN not in frame.columns:
        frame = _hashed(frame, ref.row_format)
    suite = _suite(f"{name.replace(' ', '-')}-rows", ref, frame.columns, limits)
    reasons = suite.reasons(frame.reset_index(drop=True))
    bad = reasons.dropna()
    if len(bad):
        index, reason = bad.index[0], bad.iloc[0]
        check = suite.checks[reason]
        field = str(frame[UNICODE_COLUMN].iloc[index]) if reason == "invalid_unicode" else check.field
        raise InputError(
            f"invalid row in the {name}: {reason} (expectation {suite.stats[reason].expectation} failed)",
            file=str(frame[FILE_COLUMN].iloc[index]),
            row=int(frame[ROW_COLUMN].iloc[index]),
            field=field,
            hint=check.hint,
        )
    return ref.row_format.normalize(_assign_ids(frame))


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


def check_pool(
    source: Source, ref: Reference, spill_dir: str, limits: Limits = Limits(), forbidden: frozenset[str] = frozenset()
) -> PoolCheck:
    """Stream a pool through the expectations: valid rows to Parquet parts, bad rows to quarantine."""
    os.makedirs(spill_dir, exist_ok=True)
    suite, seen_content, seen_ids = None, SeenKeys(), SeenKeys()
    parts, quarantined, first_bad = [], [], None
    rows_read, valid_rows = 0, 0
    pool_hash = DatasetHasher()
    for batch in iter_batches(source, limits.batch_rows):
        _require_format(batch, ref, "pool")
        if suite is None:
            suite = _suite("pool-rows", ref, batch.columns, limits, forbidden)
        batch = _hashed(batch, ref.row_format)
        rows_read += len(batch)
        pool_hash.update(batch[HASH_COLUMN])
        reasons = suite.reasons(batch)
        batch = _assign_ids(batch)
        # Same content: keep the first row. The same id on other content is ambiguous.
        for reason, repeated in (
            ("duplicate", seen_content.repeated(batch[HASH_COLUMN])),
            ("duplicate_id", seen_ids.repeated(batch["id"])),
        ):
            reasons[repeated & reasons.isna().to_numpy()] = reason
        bad = reasons.notna().to_numpy()
        if bad.any():
            quarantined.append(arrow_table(batch[bad].assign(reason=reasons[bad].astype(str))))
            if first_bad is None:
                first_bad = batch[bad].iloc[0], reasons[bad].iloc[0]
        if (~bad).any():
            part = os.path.join(spill_dir, f"part-{len(parts):05d}.parquet")
            pq.write_table(arrow_table(ref.row_format.normalize(batch[~bad])), part)
            parts.append(part)
            valid_rows += int((~bad).sum())
    if rows_read == 0:
        raise InputError(
            "the pool holds no rows (expectation expect_table_row_count_to_be_between failed)", file=source.url
        )
    quarantine = (
        pa.concat_tables(quarantined, promote_options="permissive").to_pandas()
        if quarantined
        else pd.DataFrame({"id": pd.Series(dtype=str), "reason": pd.Series(dtype=str)})
    )
    counts = {str(k): int(v) for k, v in quarantine["reason"].value_counts().sort_index().items()}
    rejected = rows_read - valid_rows
    if valid_rows == 0 or rejected / rows_read > limits.max_reject_share:
        row, reason = first_bad
        expectation = suite.stats[reason].expectation if reason in suite.stats else "unique content and ids"
        check = suite.checks.get(reason)
        raise InputError(
            f"{rejected} of {rows_read} pool rows are invalid (more than the allowed "
            f"{limits.max_reject_share:.0%}); first: {reason} "
            f"(expectation {expectation} failed)",
            file=str(row[FILE_COLUMN]),
            row=int(row[ROW_COLUMN]),
            field=check.field if check else "id",
            hint=check.hint if check else None,
        )
    expectations = suite.summary() + [
        {
            "expectation": "unique content (content hash)",
            "reason": "duplicate",
            "rows_checked": rows_read,
            "rows_failed": counts.get("duplicate", 0),
            "success": not counts.get("duplicate"),
        },
        {
            "expectation": "unique ids",
            "reason": "duplicate_id",
            "rows_checked": rows_read,
            "rows_failed": counts.get("duplicate_id", 0),
            "success": not counts.get("duplicate_id"),
        },
    ]
    return PoolCheck(
        valid_parts=parts,
        quarantine=quarantine,
        rows_read=rows_read,
        valid_rows=valid_rows,
        reasons=counts,
        expectations=expectations,
        pool_hash=pool_hash.hexdigest(),
        files=list(source.files),
    )


def holdout_split(validation: pd.DataFrame, share: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the validation set into (warmup rows, evaluation rows) by content hash.

    Used when no --test is given: the evaluation rows are never seen by the warmup. The split
    depends only on row content, so it is the same for any file order.
    """
    ranks = validation[HASH_COLUMN].rank(method="first").to_numpy() - 1
    every = max(2, int(round(1 / share)))
    if len(validation) < every:
        file = str(validation[FILE_COLUMN].iloc[0]) if FILE_COLUMN in validation and len(validation) else None
        raise InputError(
            f"the validation set has {len(validation)} rows: without --test, one row in {every} is "
            f"held out for evaluation, so it needs at least {every}",
            file=file,
            field="--test",
            hint="add validation rows or give a test set with --test",
        )
    held = (ranks % every) == every - 1
    return validation[~held].reset_index(drop=True), validation[held].reset_index(drop=True)


def check_target(validation: pd.DataFrame, test: pd.DataFrame | None, family: Family, limits: Limits) -> Target:
    """Check the validation and test sets strictly; split off the evaluation rows when there is no test set."""
    ref, validation = reference_from(validation, family, limits)
    test = check_strict(test, ref, "test set", limits) if test is not None else None
    warm_rows, eval_rows = (validation, test) if test is not None else holdout_split(validation)
    # Leakage: a pool row identical to a validation or test row is never trained on.
    forbidden = set(validation[HASH_COLUMN]) | (set(test[HASH_COLUMN]) if test is not None else set())
    return Target(
        ref,
        validation,
        warm_rows,
        eval_rows,
        "test" if test is not None else "validation-holdout",
        frozenset(forbidden),
    )


@task(name="validate-target", tags=["validate"], persist_result=False, cache_policy=NO_CACHE)
def validate_target(validation: pd.DataFrame, test: pd.DataFrame | None, family: Family, limits: Limits) -> Target:
    """Check the validation and test sets strictly; derive the reference for the pool."""
    return check_target(validation, test, family, limits)


@task(name="validate-pool", tags=["validate"], persist_result=False, cache_policy=NO_CACHE)
def validate_pool(source: Source, target: Target, spill_dir: str, limits: Limits) -> PoolCheck:
    """Stream the pool through the expectation suite; quarantine bad rows with a reason."""
    checked = check_pool(source, target.ref, spill_dir, limits, target.forbidden)
    get_run_logger().info(
        "pool %s: %d rows read, %d valid, %d quarantined %s",
        source.url,
        checked.rows_read,
        checked.valid_rows,
        checked.rows_read - checked.valid_rows,
        checked.reasons,
    )
    return checked
