"""The target's sets checked strictly (any bad row is an InputError naming it): the validation set
fixes the row format and the reference every other file must match; without a test set, a share of
its rows is held out for evaluation."""

from __future__ import annotations

import dataclasses

import pandas as pd

from curation.errors import InputError
from curation.formats import Check, Limits, ModelKind, detect, interchangeable
from curation.formats.base import Reading
from curation.pool import Reference, Target
from curation.rows import FILE_COLUMN, HASH_COLUMN, ROW_COLUMN, UNICODE_COLUMN
from curation.validation.checks import all_facts, assign_ids, first_file, hashed, pool_checks, require_format, suite


def _checks(ref: Reference, frame_columns, limits: Limits) -> list[Check]:
    """The table of checks for a validation or test file: the pool's own, then the target's."""
    return [*pool_checks(ref.row_format, frame_columns, limits), *ref.row_format.target_checks(ref.fixed)]


def reference_from(
    validation: pd.DataFrame, reader: ModelKind | Reading, limits: Limits = Limits()
) -> tuple[Reference, pd.DataFrame]:
    """Detect the validation set's row format, check it strictly and derive the reference every other
    file must match. `reader`: the kind of models that read the rows, or how a causal LM reads them."""
    kind, reading = (reader, None) if isinstance(reader, str) else ("text", reader)
    row_format = detect(validation.columns, kind, first_file(validation), "validation set")
    fixed = row_format.fixed_by(validation)
    ref = Reference(row_format.name, fixed.get("feature_dim"), fixed.get("labels", ()), reading)
    checked = check_strict(hashed(validation, row_format), ref, "validation set", limits)
    if kind == "features" and checked["label"].nunique() < 2:
        raise InputError(
            "the validation set needs at least two distinct labels", file=first_file(validation), field="label"
        )
    return ref, checked


def check_strict(frame: pd.DataFrame, ref: Reference, name: str, limits: Limits = Limits()) -> pd.DataFrame:
    """Validate a validation or test file (content hashes added): its first bad row is an InputError."""
    row_format = interchangeable(ref.row_format, frame.columns)  # a test set in the other chat form
    require_format(frame, row_format, name)
    ref = dataclasses.replace(ref, format=row_format.name)
    if HASH_COLUMN not in frame.columns:
        frame = hashed(frame, row_format)
    rows = suite(f"{name.replace(' ', '-')}-rows", _checks(ref, frame.columns, limits), all_facts(ref))
    reasons = rows.reasons(frame.reset_index(drop=True))
    bad = reasons.dropna()
    if len(bad):
        index, reason = bad.index[0], bad.iloc[0]
        check = rows.checks[reason]
        field = str(frame[UNICODE_COLUMN].iloc[index]) if reason == "invalid_unicode" else check.field
        raise InputError(
            f"invalid row in the {name}: {reason} (expectation {rows.stats[reason].expectation} failed)",
            file=str(frame[FILE_COLUMN].iloc[index]),
            row=int(frame[ROW_COLUMN].iloc[index]),
            field=field,
            hint=check.hint,
        )
    return row_format.normalize(assign_ids(frame))


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
    validation: pd.DataFrame, test: pd.DataFrame | None, reader: ModelKind | Reading, limits: Limits
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
        forbidden=frozenset(forbidden),
    )
