"""Validate: check rows against the file contract; bad pool rows go to quarantine with a reason.

The validation and test sets define the target, so any bad row there is a hard error; a pool is
large and messy, so its bad rows are quarantined and the run goes on with the rest, unless the
pool as a whole is unusable (a required column missing, no valid rows, too many rejected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.errors import InputError
from curation.rows import FILE_COLUMN, HASH_COLUMN, ROW_COLUMN, RowKind, text_columns


@dataclass(frozen=True)
class Reference:
    """What the validation set fixes for every other file: the kind, feature length and labels."""

    kind: RowKind
    text_columns: tuple[str, ...] = ()
    feature_dim: int | None = None
    labels: tuple[int, ...] = ()


@dataclass
class Checked:
    """Outcome of validating one pool: the rows to score and the rows set aside."""

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    reasons: dict[str, int] = field(default_factory=dict)


def _where(frame: pd.DataFrame, index) -> tuple[str, int]:
    return str(frame.at[index, FILE_COLUMN]), int(frame.at[index, ROW_COLUMN])


def _require_columns(frame: pd.DataFrame, kind: RowKind, name: str) -> tuple[str, ...]:
    file = str(frame[FILE_COLUMN].iloc[0])
    if kind == "features":
        for column in ("features", "label"):
            if column not in frame.columns:
                raise InputError(f"required column missing from the {name} (feature rows need "
                                 "'features' and 'label')", file=file, field=column)
        return ()
    columns = text_columns(frame)
    if not columns:
        raise InputError(f"required column missing from the {name} (text rows need 'response', "
                         "with optional 'prompt', or 'text')", file=file, field="response")
    return columns


def _row_reasons(frame: pd.DataFrame, ref: Reference, columns: tuple[str, ...]) -> pd.Series:
    """The first reason each row is invalid, or None."""
    reasons = pd.Series([None] * len(frame), index=frame.index, dtype="object")

    def mark(mask, reason: str) -> None:
        reasons[mask & reasons.isna()] = reason

    if "id" in frame.columns:
        mark(frame["id"].isna(), "null_id")
    if ref.kind == "text":
        for column in columns:
            values = frame[column]
            if column == "prompt":
                mark(values.map(lambda v: v is not None and not isinstance(v, str)), "bad_prompt")
                continue
            mark(values.map(lambda v: not isinstance(v, str)), f"null_{column}")
            mark(values.map(lambda v: isinstance(v, str) and not v.strip()), f"empty_{column}")
        return reasons

    def vector_problem(value) -> str | None:
        if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            return "null_features"
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return "non_numeric_features"
        if array.ndim != 1:
            return "non_numeric_features"
        if ref.feature_dim is not None and array.shape[0] != ref.feature_dim:
            return "feature_length"
        if not np.isfinite(array).all():
            return "non_finite_features"
        return None

    problems = frame["features"].map(vector_problem)
    reasons[problems.notna() & reasons.isna()] = problems[problems.notna() & reasons.isna()]

    def label_problem(value) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "null_label"
        if isinstance(value, (bool, np.bool_)) or not float(value).is_integer():
            return "bad_label"
        if ref.labels and int(value) not in ref.labels:
            return "unknown_label"
        return None

    def safe_label_problem(value) -> str | None:
        try:
            return label_problem(value)
        except (TypeError, ValueError):
            return "bad_label"

    problems = frame["label"].map(safe_label_problem)
    reasons[problems.notna() & reasons.isna()] = problems[problems.notna() & reasons.isna()]
    return reasons


def _assign_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Ids as strings; rows without one get their content hash."""
    frame = frame.copy()
    if "id" in frame.columns:
        frame["id"] = [h if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                       for v, h in zip(frame["id"], frame[HASH_COLUMN])]
    else:
        frame["id"] = frame[HASH_COLUMN]
    frame["id"] = frame["id"].astype("string")
    return frame


def _normalize(frame: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    frame = frame.copy()
    if ref.kind == "features":
        frame["features"] = [np.asarray(v, dtype=np.float32) for v in frame["features"]]
        frame["label"] = frame["label"].astype("int64")
    elif "prompt" in frame.columns:
        frame["prompt"] = frame["prompt"].fillna("")
    return frame


def reference_from(validation: pd.DataFrame, kind: RowKind) -> tuple[Reference, pd.DataFrame]:
    """Check the validation set strictly and derive the reference every other file must match."""
    columns = _require_columns(validation, kind, "validation set")
    ref = Reference(kind=kind, text_columns=columns)
    if kind == "features":
        lengths = validation["features"].map(lambda v: len(v) if hasattr(v, "__len__") else -1)
        ref = Reference(kind=kind, feature_dim=int(lengths.mode().iloc[0]))
    checked = check_strict(validation, ref, "validation set")
    if kind == "features":
        ref = Reference(kind=kind, feature_dim=ref.feature_dim,
                        labels=tuple(sorted(int(v) for v in checked["label"].unique())))
        if len(ref.labels) < 2:
            raise InputError("the validation set needs at least two distinct labels",
                             file=str(validation[FILE_COLUMN].iloc[0]), field="label")
    return ref, checked


def check_strict(frame: pd.DataFrame, ref: Reference, name: str) -> pd.DataFrame:
    """Validate a validation or test file: the first bad row is an InputError."""
    _require_columns(frame, ref.kind, name)
    reasons = _row_reasons(frame, ref, ref.text_columns or text_columns(frame))
    bad = reasons.dropna()
    if len(bad):
        index = bad.index[0]
        file, row = _where(frame, index)
        reason = bad.iloc[0]
        raise InputError(f"invalid row in the {name}: {reason}", file=file, row=row,
                         field=_field_of(reason), hint=_hint(reason, ref))
    return _normalize(_assign_ids(frame), ref)


def check_pool(pool: pd.DataFrame, ref: Reference, max_reject_share: float = 0.5) -> Checked:
    """Validate a pool: bad rows are quarantined; an unusable pool is an InputError."""
    columns = _require_columns(pool, ref.kind, "pool")
    reasons = _row_reasons(pool, ref, columns)
    pool = _assign_ids(pool)
    # Duplicates: same content keeps its first row; a reused id on other content is ambiguous.
    reasons[pool[HASH_COLUMN].duplicated() & reasons.isna()] = "duplicate"
    reasons[pool["id"].duplicated() & reasons.isna()] = "duplicate_id"
    bad = reasons.notna()
    quarantine = pool[bad].assign(reason=reasons[bad].astype("string"))
    valid = _normalize(pool[~bad], ref)
    rejected_share = bad.mean()
    if valid.empty or rejected_share > max_reject_share:
        first = reasons[bad].index[0]
        file, row = _where(pool, first)
        reason = reasons[first]
        raise InputError(
            f"{int(bad.sum())} of {len(pool)} pool rows are invalid "
            f"(more than the allowed {max_reject_share:.0%}); first: {reason}",
            file=file, row=row, field=_field_of(reason), hint=_hint(reason, ref))
    counts = {str(k): int(v) for k, v in quarantine["reason"].value_counts().sort_index().items()}
    return Checked(valid=valid.reset_index(drop=True), quarantine=quarantine.reset_index(drop=True),
                   reasons=counts)


_REASON_FIELDS = {
    "null_id": "id", "duplicate": "id", "duplicate_id": "id", "bad_prompt": "prompt",
    "null_features": "features", "non_numeric_features": "features", "feature_length": "features",
    "non_finite_features": "features", "null_label": "label", "bad_label": "label",
    "unknown_label": "label",
}


def _field_of(reason: str) -> str:
    """The column a reason is about (null_text -> text, feature_length -> features, ...)."""
    return _REASON_FIELDS.get(reason, reason.split("_", 1)[-1])


def _hint(reason: str, ref: Reference) -> str | None:
    if reason == "feature_length":
        return f"the validation set's feature vectors have length {ref.feature_dim}"
    if reason == "unknown_label":
        return f"labels must be among the validation set's: {list(ref.labels)}"
    return None


@task(name="validate", tags=["validate"], persist_result=False, cache_policy=NO_CACHE)
def validate(pool: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame | None,
             kind: RowKind, max_reject_share: float = 0.5
             ) -> tuple[Reference, Checked, pd.DataFrame, pd.DataFrame | None]:
    """Check validation, test and pool; quarantine bad pool rows."""
    ref, validation = reference_from(validation, kind)
    test = check_strict(test, ref, "test set") if test is not None else None
    return ref, check_pool(pool, ref, max_reject_share), validation, test
