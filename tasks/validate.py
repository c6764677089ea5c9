"""Validate: check rows against the file contract with Great Expectations; quarantine bad pool rows.

The validation and test sets define the target, so any bad row there is a hard error. A pool is
large and messy: it is streamed batch by batch, its bad rows are quarantined with a reason and
the run goes on with the rest, unless the pool as a whole is unusable (a required column
missing, no valid rows, more than `max_reject_share` of rows rejected). Valid rows are spilled to
local Parquet parts, so memory stays flat however large the pool.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.errors import InputError
from curation.expectations import MAX_LABEL
from curation.hashing import DatasetHasher
from curation.pool import PoolCheck, Reference, Target
from curation.rows import FILE_COLUMN, HASH_COLUMN, ROW_COLUMN, UNICODE_COLUMN, RowKind, text_columns
from curation.storage import arrow_table
from tasks.ingest import BATCH_ROWS, Source, iter_batches


@dataclass(frozen=True)
class Limits:
    """Pool-level bounds a user may set."""

    max_reject_share: float = 0.5
    min_chars: int = 1
    max_chars: int = 100_000

    @classmethod
    def of(cls, config) -> Limits:
        """The limits a run's settings set."""
        return cls(config.max_reject_share, config.min_chars, config.max_chars)


def _first_file(frame: pd.DataFrame) -> str:
    return str(frame[FILE_COLUMN].iloc[0]) if FILE_COLUMN in frame and len(frame) else "?"


def _require_columns(
    frame: pd.DataFrame, ref_kind: RowKind, name: str, expected_text: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The payload columns present; an InputError naming the file if a required one is missing."""
    file = _first_file(frame)
    if ref_kind == "features":
        for column in ("features", "label"):
            if column not in frame.columns:
                raise InputError(
                    f"required column missing from the {name} (expectation "
                    "expect_column_to_exist failed; feature rows need 'features' and 'label')",
                    file=file,
                    field=column,
                )
        return ()
    columns = text_columns(frame)
    needed = [c for c in expected_text if c != "prompt"]
    if not columns or any(c not in columns for c in needed):
        missing = needed[0] if needed else "response"
        raise InputError(
            f"required column missing from the {name} (expectation expect_column_to_exist "
            "failed; text rows need 'response', with optional 'prompt', or 'text', as the "
            "validation set has)",
            file=file,
            field=missing,
        )
    return columns


def _rules(ref: Reference, frame_columns, limits: Limits, forbidden: frozenset[str] = frozenset()):
    from curation.expectations import RowRules

    return RowRules(
        kind=ref.kind,
        text_columns=ref.text_columns,
        feature_dim=ref.feature_dim,
        labels=ref.labels,
        min_chars=limits.min_chars,
        max_chars=limits.max_chars,
        has_id="id" in frame_columns,
        forbidden_hashes=forbidden,
    )


def _field_of(reason: str) -> str:
    """The column a reason is about: null_text -> text, feature_length -> features, ..."""
    fixed = {
        "duplicate": "id",
        "duplicate_id": "id",
        "null_id": "id",
        "leakage": "id",
        "feature_length": "features",
        "bad_label": "label",
        "unknown_label": "label",
    }
    if reason in fixed:
        return fixed[reason]
    for column in ("features", "label", "prompt", "response", "text"):
        if column in reason:
            return column
    return reason


def _hint(reason: str, ref: Reference, limits: Limits) -> str | None:
    return {
        "feature_length": f"the validation set's feature vectors have length {ref.feature_dim}",
        "non_finite_features": "features must be finite numbers within float32's range (|x| ≤ 3.4e38)",
        "bad_type_features": "features must be a list of numbers (not strings that look like numbers)",
        "bad_label": f"labels are class indices: whole numbers from 0 to {MAX_LABEL}",
        "invalid_unicode": "the text holds a lone UTF-16 surrogate (e.g. \\ud800), which is not valid Unicode",
        "unknown_label": f"labels must be among the validation set's: {list(ref.labels)}",
        "leakage": "the row is identical to a validation or test row",
    }.get(
        reason, f"text must be {limits.min_chars}-{limits.max_chars} characters" if reason.endswith("_length") else None
    )


def _assign_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Ids as strings; rows without one get their content hash."""
    frame = frame.copy()
    if "id" in frame.columns:
        ids = frame["id"].astype("object")
        frame["id"] = ids.where(ids.notna(), frame[HASH_COLUMN]).map(str)
    else:
        frame["id"] = frame[HASH_COLUMN].astype(str)
    return frame


def _normalize(frame: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    """Valid rows with clean types: float32 vectors, int64 labels, '' for a missing prompt."""
    frame = frame.copy()
    if ref.kind == "features":
        frame["features"] = [np.asarray(v, dtype=np.float32) for v in frame["features"]]
        frame["label"] = frame["label"].astype("float64").astype("int64")
    elif "prompt" in ref.text_columns:
        prompt = frame["prompt"] if "prompt" in frame.columns else pd.Series([""] * len(frame), index=frame.index)
        frame["prompt"] = prompt.astype("object").where(prompt.notna(), "").astype(str)
    return frame


def reference_from(
    validation: pd.DataFrame, kind: RowKind, limits: Limits = Limits()
) -> tuple[Reference, pd.DataFrame]:
    """Check the validation set strictly and derive the reference every other file must match."""
    columns = _require_columns(validation, kind, "validation set")
    ref = Reference(kind=kind, text_columns=columns)
    if kind == "features":
        lengths = validation["features"].map(lambda v: len(v) if hasattr(v, "__len__") else -1)
        ref = Reference(kind=kind, feature_dim=int(lengths.mode().iloc[0]))
    checked = check_strict(validation, ref, "validation set", limits)
    if kind == "features":
        ref = Reference(
            kind=kind, feature_dim=ref.feature_dim, labels=tuple(sorted(int(v) for v in checked["label"].unique()))
        )
        if len(ref.labels) < 2:
            raise InputError(
                "the validation set needs at least two distinct labels", file=_first_file(validation), field="label"
            )
    return ref, checked


def check_strict(frame: pd.DataFrame, ref: Reference, name: str, limits: Limits = Limits()) -> pd.DataFrame:
    """Validate a validation or test file: its first bad row is an InputError."""
    from curation.expectations import RowSuite

    _require_columns(frame, ref.kind, name, ref.text_columns)
    suite = RowSuite(f"{name.replace(' ', '-')}-rows", _rules(ref, frame.columns, limits))
    reasons = suite.reasons(frame.reset_index(drop=True))
    bad = reasons.dropna()
    if len(bad):
        index, reason = bad.index[0], bad.iloc[0]
        expectation = suite.stats[reason].expectation
        field = str(frame[UNICODE_COLUMN].iloc[index]) if reason == "invalid_unicode" else _field_of(reason)
        raise InputError(
            f"invalid row in the {name}: {reason} (expectation {expectation} failed)",
            file=str(frame[FILE_COLUMN].iloc[index]),
            row=int(frame[ROW_COLUMN].iloc[index]),
            field=field,
            hint=_hint(reason, ref, limits),
        )
    return _normalize(_assign_ids(frame), ref)


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
    source: Source,
    ref: Reference,
    spill_dir: str,
    limits: Limits = Limits(),
    forbidden: frozenset[str] = frozenset(),
    batch_rows: int = BATCH_ROWS,
) -> PoolCheck:
    """Stream a pool through the expectations: valid rows to Parquet parts, bad rows to quarantine."""
    from curation.expectations import RowSuite

    os.makedirs(spill_dir, exist_ok=True)
    suite, seen_content, seen_ids = None, SeenKeys(), SeenKeys()
    parts, quarantined, first_bad = [], [], None
    rows_read, valid_rows = 0, 0
    pool_hash = DatasetHasher()
    for batch in iter_batches(source, batch_rows):
        _require_columns(batch, ref.kind, "pool", ref.text_columns)
        if suite is None:
            suite = RowSuite("pool-rows", _rules(ref, batch.columns, limits, forbidden))
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
            pq.write_table(arrow_table(_normalize(batch[~bad], ref)), part)
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
        raise InputError(
            f"{rejected} of {rows_read} pool rows are invalid (more than the allowed "
            f"{limits.max_reject_share:.0%}); first: {reason} "
            f"(expectation {expectation} failed)",
            file=str(row[FILE_COLUMN]),
            row=int(row[ROW_COLUMN]),
            field=_field_of(reason),
            hint=_hint(reason, ref, limits),
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


def check_target(validation: pd.DataFrame, test: pd.DataFrame | None, kind: RowKind, limits: Limits) -> Target:
    """Check the validation and test sets strictly; split off the evaluation rows when there is no test set."""
    ref, validation = reference_from(validation, kind, limits)
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
def validate_target(validation: pd.DataFrame, test: pd.DataFrame | None, kind: RowKind, limits: Limits) -> Target:
    """Check the validation and test sets strictly; derive the reference for the pool."""
    return check_target(validation, test, kind, limits)


@task(name="validate-pool", tags=["validate"], persist_result=False, cache_policy=NO_CACHE)
def validate_pool(
    source: Source, target: Target, spill_dir: str, limits: Limits, shard_rows: int = BATCH_ROWS
) -> PoolCheck:
    """Stream the pool through the expectation suite; quarantine bad rows with a reason."""
    checked = check_pool(source, target.ref, spill_dir, limits, target.forbidden, shard_rows)
    get_run_logger().info(
        "pool %s: %d rows read, %d valid, %d quarantined %s",
        source.url,
        checked.rows_read,
        checked.valid_rows,
        checked.rows_read - checked.valid_rows,
        checked.reasons,
    )
    return checked
