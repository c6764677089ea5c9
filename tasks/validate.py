"""Validate: check rows against the file contract with Great Expectations; quarantine bad pool rows.

The validation and test sets define the target, so any bad row there is a hard error. A pool is
large and messy, and checked in two parts:
- `scan_pool` involves no target: streamed batch by batch through the row format's checks and the
  duplicate checks, its valid rows kept in the validated-pool cache (`curation.cache.pools`), so a
  rerun, a resumed run or another target on the same pool reads no pool file;
- `admit` applies what depends on the target (feature length, labels, leakage against the
  validation and test rows) to the cached valid rows, and spills the admitted ones to local
  Parquet parts (the shards), so memory stays flat however large the pool.
Bad rows are quarantined with a reason and the run goes on with the rest, unless the pool as a
whole is unusable (a required column missing, no valid rows, more than `max_reject_share` of
rows rejected).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.cache.entry import forget
from curation.cache.integrity import Damaged
from curation.cache.keys import pool_key
from curation.cache.pools import QUARANTINE, ValidPool, obtain_valid_pool, read_part
from curation.errors import InputError
from curation.formats import Check, Family, Limits, RowFormat, detect, interchangeable, missing_columns
from curation.formats.base import Reading, common_checks
from curation.hashing import DatasetHasher
from curation.io.batches import check_files, iter_batches
from curation.io.sources import Source
from curation.pool import PoolCheck, PoolRejected, Reference, Target
from curation.rows import CARRIED_COLUMNS, FILE_COLUMN, HASH_COLUMN, ROW_COLUMN, TRUNCATED_COLUMN, UNICODE_COLUMN
from curation.storage import arrow_table


def _first_file(frame: pd.DataFrame) -> str:
    return str(frame[FILE_COLUMN].iloc[0]) if FILE_COLUMN in frame and len(frame) else "?"


def _require_format(frame: pd.DataFrame, row_format: RowFormat, name: str) -> None:
    """An InputError naming the file and column if the frame lacks a column the target's format requires."""
    if row_format.missing(frame.columns) is not None:
        raise missing_columns([row_format], frame.columns, _first_file(frame), name, ", as the validation set has")


def _pool_checks(row_format: RowFormat, frame_columns, limits: Limits) -> list[Check]:
    """The checks that involve no target: every row's, then the format's."""
    return [*common_checks("id" in frame_columns), *row_format.checks(limits)]


def _checks(ref: Reference, frame_columns, limits: Limits) -> list[Check]:
    """The table of checks for a validation or test file: the pool's own, then the target's."""
    return [*_pool_checks(ref.row_format, frame_columns, limits), *ref.row_format.target_checks(ref.fixed)]


def _suite(name: str, checks: list[Check], facts):
    from curation.expectations import RowSuite

    return RowSuite(name, checks, facts)


def _all_facts(ref: Reference):
    """The facts the checks of a file (raw rows) or of cached valid rows (normalized) read: the format's
    own and the target's."""
    row_format = ref.row_format
    return lambda frame: {**row_format.facts(frame), **row_format.target_facts(frame, ref.fixed)}


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
    validation: pd.DataFrame, reader: Family | Reading, limits: Limits = Limits()
) -> tuple[Reference, pd.DataFrame]:
    """Detect the validation set's row format, check it strictly and derive the reference every other
    file must match. `reader`: the family of models that read the rows, or how a causal LM reads them."""
    family, reading = (reader, None) if isinstance(reader, str) else ("text", reader)
    row_format = detect(validation.columns, family, _first_file(validation), "validation set")
    fixed = row_format.fixed_by(validation)
    ref = Reference(row_format.name, fixed.get("feature_dim"), fixed.get("labels", ()), reading)
    checked = check_strict(_hashed(validation, row_format), ref, "validation set", limits)
    if family == "features" and checked["label"].nunique() < 2:
        raise InputError(
            "the validation set needs at least two distinct labels", file=_first_file(validation), field="label"
        )
    return ref, checked


def check_strict(frame: pd.DataFrame, ref: Reference, name: str, limits: Limits = Limits()) -> pd.DataFrame:
    """Validate a validation or test file (content hashes added): its first bad row is an InputError."""
    row_format = interchangeable(ref.row_format, frame.columns)  # a test set in the other chat form
    _require_format(frame, row_format, name)
    ref = dataclasses.replace(ref, format=row_format.name)
    if HASH_COLUMN not in frame.columns:
        frame = _hashed(frame, row_format)
    suite = _suite(f"{name.replace(' ', '-')}-rows", _checks(ref, frame.columns, limits), _all_facts(ref))
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
    return row_format.normalize(_assign_ids(frame))


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


def scan_pool(source: Source, row_format: RowFormat, limits: Limits, out_dir: str) -> dict[str, Any]:
    """The checks that involve no target, streamed over a pool: valid rows (normalized, with ids and
    content hashes) to Parquet parts in `out_dir`, bad rows to its quarantine.parquet; the summary."""
    check_files(source)
    seen_content, seen_ids = SeenKeys(), SeenKeys()
    parts, quarantined = [], []
    rows_read, valid_rows = 0, 0
    pool_hash = DatasetHasher()
    expected, suites = row_format, {}
    for batch in iter_batches(source, limits.batch_rows):
        row_format = interchangeable(expected, batch.columns)  # a file may hold the other chat form
        _require_format(batch, row_format, "pool")
        if row_format.name not in suites:
            checks = _pool_checks(row_format, batch.columns, limits)
            suites[row_format.name] = _suite(f"pool-rows-{row_format.name}", checks, row_format.facts)
        suite = suites[row_format.name]
        batch = _hashed(batch, row_format)
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
        if (~bad).any():
            parts.append(f"part-{len(parts):05d}.parquet")
            pq.write_table(arrow_table(row_format.normalize(batch[~bad])), os.path.join(out_dir, parts[-1]))
            valid_rows += int((~bad).sum())
    if rows_read == 0:
        raise InputError(
            "the pool holds no rows (expectation expect_table_row_count_to_be_between failed)", file=source.url
        )
    quarantine = _concat_rejects(quarantined) if quarantined else _NO_ROWS
    pq.write_table(quarantine, os.path.join(out_dir, QUARANTINE))
    return {
        "parts": parts,
        "rows_read": rows_read,
        "valid_rows": valid_rows,
        "expectations": [e for found in suites.values() for e in found.summary()] + _uniqueness(rows_read, quarantine),
        "pool_hash": pool_hash.hexdigest(),
        "files": list(source.files),
    }


def _concat_rejects(tables: list[pa.Table]) -> pa.Table:
    """Rejected rows of several batches as one table. Their pass-through columns may disagree on type
    (a `label` of `true` in one batch, of 0 in another): such columns are then merged as pandas
    objects and kept as JSON text where Arrow cannot type them (`arrow_table`)."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return arrow_table(pd.concat([t.to_pandas() for t in tables], ignore_index=True))


_NO_ROWS = pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})


def _uniqueness(rows_read: int, quarantine: pa.Table) -> list[dict[str, Any]]:
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


ADMIT_ROWS = 262_144  # rows judged per GX run in `admit`: a group of shards, memory bounded by it


def _target_checks(ref: Reference, forbidden: frozenset[str]) -> list[Check]:
    """What a pool's valid rows must also satisfy for this target: the format's target checks, no leakage."""
    checks = ref.row_format.target_checks(ref.fixed)
    if forbidden:  # a pool row identical to a validation or test row is never trained on
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


def admit(valid: ValidPool, target: Target, spill_dir: str, limits: Limits) -> PoolCheck:
    """The checked pool's rows this target may use: its target checks (feature length, labels,
    leakage) over the cached valid rows, the admitted ones to local Parquet parts (the shards).
    Raises Damaged if a cached file fails its verification."""
    os.makedirs(spill_dir, exist_ok=True)
    checks = _target_checks(target.ref, target.forbidden)
    suite = _suite("pool-target-rows", checks, _all_facts(target.ref)) if checks else None
    parts, quarantined, truncated = [], [read_part(valid, QUARANTINE)], []

    def judge(group: list[tuple[str, pa.Table]]) -> None:
        """One GX run over a group of parts (each run costs ~0.15 s whatever its size), then each part's
        admitted rows to a shard and its rejected ones to the quarantine."""
        frames = [_what_checks_read(t, suite.reads, target.ref.row_format) for _, t in group] if suite else []
        frame = pd.concat(frames, ignore_index=True) if suite else None
        derive = suite is not None and not suite.reads <= set(frame.columns)
        facts = _all_facts(target.ref)(frame) if derive else {}  # once: the suite reads them, shards carry some
        reasons = suite.reasons(frame.assign(**facts)) if suite else None
        carried = {name: facts[name] for name in CARRIED_COLUMNS if name in facts}
        offset = 0
        for name, table in group:
            whole = table
            for column, values in carried.items():  # the tokens validation made, for scoring
                part = values[offset : offset + table.num_rows]
                kind = pa.bool_() if values.dtype == bool else pa.list_(pa.int32())
                table = table.append_column(column, pa.array(list(part), type=kind))
            if reasons is not None:
                bad = reasons.iloc[offset : offset + table.num_rows].notna().to_numpy()
                if bad.any():
                    why = reasons.iloc[offset : offset + table.num_rows][bad].astype(str)
                    quarantined.append(whole.filter(pa.array(bad)).append_column("reason", pa.array(why)))
                    table = table.filter(pa.array(~bad))
                offset += len(bad)
            if TRUNCATED_COLUMN in table.column_names:
                truncated.append(int(pc.sum(table.column(TRUNCATED_COLUMN)).as_py() or 0))
            if table is whole and "://" not in valid.url:  # all admitted: the verified cached part is the shard
                parts.append(os.path.join(valid.url, name))
            elif table.num_rows:
                parts.append(os.path.join(spill_dir, f"part-{len(parts):05d}.parquet"))
                pq.write_table(table, parts[-1])

    group: list[tuple[str, pa.Table]] = []
    for name in valid.parts:
        group.append((name, read_part(valid, name)))
        if sum(t.num_rows for _, t in group) >= ADMIT_ROWS:
            judge(group)
            group = []
    if group:
        judge(group)
    found = valid.summary
    quarantine = _in_pool_order(_concat_rejects(quarantined).to_pandas(), found["files"])
    check = PoolCheck(
        valid_parts=parts,
        quarantine=quarantine,
        rows_read=found["rows_read"],
        valid_rows=found["rows_read"] - len(quarantine),
        reasons={str(k): int(v) for k, v in quarantine["reason"].value_counts().sort_index().items()},
        expectations=found["expectations"] + (suite.summary() if suite else []),
        pool_hash=found["pool_hash"],
        files=found["files"],
        cache=valid.status,
        truncated=sum(truncated),
    )
    _refuse_if_mostly_bad(check, limits, [*_pool_checks(target.ref.row_format, ["id"], limits), *checks])
    return check


def _what_checks_read(table: pa.Table, reads: set[str], row_format: RowFormat) -> pd.DataFrame:
    """The columns the checks read, as pandas (the payload too when a check reads a fact derived from
    it): converting long texts for a leakage check alone would cost more than the check."""
    columns = [c for c in table.column_names if c in reads]
    if not reads <= set(columns):
        wanted = dict.fromkeys([*row_format.payload(), *row_format.model_columns()])  # raw or normalized
        columns += [c for c in wanted if c in table.column_names and c not in columns]
    return table.select(columns).to_pandas()


def _in_pool_order(quarantine: pd.DataFrame, files: list[str]) -> pd.DataFrame:
    """Rejected rows in the order the pool holds them (file by file, row by row)."""
    if quarantine.empty or FILE_COLUMN not in quarantine.columns:
        return quarantine
    order = quarantine[FILE_COLUMN].map({f: i for i, f in enumerate(files)}).fillna(len(files))
    return quarantine.assign(_order=order).sort_values(["_order", ROW_COLUMN], kind="stable").drop(columns="_order")


def _refuse_if_mostly_bad(pool: PoolCheck, limits: Limits, checks: list[Check]) -> None:
    """An InputError naming the first bad row if no row, or too large a share, is valid."""
    rejected = pool.rows_read - pool.valid_rows
    if pool.valid_rows > 0 and rejected / pool.rows_read <= limits.max_reject_share:
        return
    row = pool.quarantine.iloc[0]
    reason, check = str(row["reason"]), {c.reason: c for c in checks}.get(str(row["reason"]))
    figures = {e["reason"]: e["expectation"] for e in pool.expectations}
    raise PoolRejected(
        f"{rejected} of {pool.rows_read} pool rows are invalid (more than the allowed "
        f"{limits.max_reject_share:.0%}); first: {reason} "
        f"(expectation {figures.get(reason, 'unique content and ids')} failed)",
        pool,
        file=str(row[FILE_COLUMN]),
        row=int(row[ROW_COLUMN]),
        field=check.field if check else "id",
        hint=check.hint if check else None,
    )


def check_pool(
    source: Source, ref: Reference, spill_dir: str, limits: Limits = Limits(), forbidden: frozenset[str] = frozenset()
) -> PoolCheck:
    """A one-off check of a pool against the reference a validation set fixed, `forbidden` content hashes
    leaking (tests and benchmarks): its cache lives under `spill_dir`, with the admitted parts."""
    target = Target(ref, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), "none", forbidden)
    return check_pool_for(source, target, spill_dir, os.path.join(spill_dir, "pool-cache"), limits)


def check_pool_for(source: Source, target: Target, spill_dir: str, cache: str, limits: Limits) -> PoolCheck:
    """Check the pool once per content version (cached), then admit its rows for this target."""
    row_format = target.ref.row_format
    key = pool_key(source.identity, row_format.normalizes_to(), limits.scan_settings())
    for attempt in (1, 2):
        valid = obtain_valid_pool(lambda local: scan_pool(source, row_format, limits, local), cache, key)
        try:
            return admit(valid, target, spill_dir, limits)
        except Damaged as err:
            if attempt == 2:
                raise
            forget(cache, valid.url, str(err))  # checked again on the second attempt


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


def check_target(
    validation: pd.DataFrame, test: pd.DataFrame | None, reader: Family | Reading, limits: Limits
) -> Target:
    """Check the validation and test sets strictly; split off the evaluation rows when there is no test set."""
    ref, validation = reference_from(validation, reader, limits)
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
def validate_target(
    validation: pd.DataFrame, test: pd.DataFrame | None, reader: Family | Reading, limits: Limits
) -> Target:
    """Check the validation and test sets strictly; derive the reference for the pool."""
    return check_target(validation, test, reader, limits)


@task(name="validate-pool", tags=["validate"], persist_result=False, cache_policy=NO_CACHE)
def validate_pool(source: Source, target: Target, spill_dir: str, limits: Limits, cache: str) -> PoolCheck:
    """Check the pool (once per content version: cached), admit its rows for the target; quarantine bad rows."""
    checked = check_pool_for(source, target, spill_dir, cache, limits)
    get_run_logger().info(
        "pool %s: %d rows read, %d valid, %d quarantined %s",
        source.url,
        checked.rows_read,
        checked.valid_rows,
        checked.rows_read - checked.valid_rows,
        checked.reasons,
    )
    return checked
