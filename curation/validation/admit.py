"""Admission: the rows of a scanned pool one target may use. The target's checks (feature length,
labels, leakage against the validation and test rows) run over the cached valid rows in groups, the
admitted rows go to local Parquet parts (the shards), the rejected ones join the quarantine; a pool
with too large a share of bad rows is refused whole."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.cache.pools import QUARANTINE, CheckedPool, read_part
from curation.formats import Check, Limits, RowFormat
from curation.pool import AdmittedPool, PoolRejected, Reference, Target
from curation.rows import CARRIED_COLUMNS, FILE_COLUMN, HASH_COLUMN, ROW_COLUMN, TRUNCATED_COLUMN
from curation.validation.checks import all_facts, concat_rejects, pool_checks, suite

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
            hint="the row is identical to a validation or test row",
        )
        checks.append(leak)
    return checks


def admit(valid: CheckedPool, target: Target, spill_dir: str, limits: Limits) -> AdmittedPool:
    """The checked pool's rows this target may use: its target checks (feature length, labels,
    leakage) over the cached valid rows, the admitted ones to local Parquet parts (the shards).
    Raises Damaged if a cached file fails its verification."""
    os.makedirs(spill_dir, exist_ok=True)
    checks = _target_checks(target.ref, target.forbidden)
    target_suite = suite("pool-target-rows", checks, all_facts(target.ref)) if checks else None
    parts, quarantined, truncated = [], [read_part(valid, QUARANTINE)], []

    def judge(group: list[tuple[str, pa.Table]]) -> None:
        """One GX run over a group of parts (each run costs ~0.15 s whatever its size), then each part's
        admitted rows to a shard and its rejected ones to the quarantine."""
        row_format = target.ref.row_format
        frames = [_what_checks_read(t, target_suite.reads, row_format) for _, t in group] if target_suite else []
        frame = pd.concat(frames, ignore_index=True) if target_suite else None
        derive = target_suite is not None and not target_suite.reads <= set(frame.columns)
        facts = all_facts(target.ref)(frame) if derive else {}  # once: the suite reads them, shards carry some
        reasons = target_suite.reasons(frame.assign(**facts)) if target_suite else None
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
    quarantine = _in_pool_order(concat_rejects(quarantined).to_pandas(), found["files"])
    check = AdmittedPool(
        valid_parts=parts,
        quarantine=quarantine,
        rows_read=found["rows_read"],
        valid_rows=found["rows_read"] - len(quarantine),
        reasons={str(k): int(v) for k, v in quarantine["reason"].value_counts().sort_index().items()},
        expectations=found["expectations"] + (target_suite.summary() if target_suite else []),
        pool_hash=found["pool_hash"],
        files=found["files"],
        cache=valid.status,
        truncated=sum(truncated),
    )
    _refuse_if_mostly_bad(check, limits, [*pool_checks(target.ref.row_format, ["id"], limits), *checks])
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


def _refuse_if_mostly_bad(pool: AdmittedPool, limits: Limits, checks: list[Check]) -> None:
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
