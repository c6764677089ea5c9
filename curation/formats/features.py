"""Feature rows for a classifier: a fixed-length numeric `features` vector and an integer class `label`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curation.formats.base import FLOAT32_MAX, MAX_LABEL, Check, Column, Limits, RowFormat, is_null


def _is_vector(t: pa.DataType) -> bool:
    if pa.types.is_null(t):
        return True
    listed = pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
    return listed and (pa.types.is_floating(t.value_type) or pa.types.is_integer(t.value_type))


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)


def vector_facts(value: Any) -> tuple[int, bool]:
    """(length, all finite) of a numeric vector, converting it once.

    Length is -1 for null and -2 for anything that is not a flat numeric list; such values count
    as finite here, since their own check already fails them.
    """
    if is_null(value):
        return -1, True
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        return -2, True
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":  # Parquet lists arrive typed; an object array is mixed
            return -2, True
    elif not all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in value
    ):
        return -2, True  # "1.5" looks like a number but is text: never converted silently
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return -2, True
    if array.ndim != 1:
        return -2, True
    # The models compute in float32: 1e39 is finite as float64 but inf there.
    return int(array.shape[0]), bool((np.abs(array) <= FLOAT32_MAX).all())


def _stacked(values: np.ndarray) -> np.ndarray | None:
    """The vectors as one 2-D array when each is a 1-D integer or float array of one length; else None."""
    if not len(values) or not all(type(v) is np.ndarray and v.ndim == 1 and v.dtype.kind in "iuf" for v in values):
        return None
    if len({v.shape[0] for v in values}) != 1:
        return None
    return np.stack(values)


def label_values(labels: pd.Series) -> np.ndarray:
    """`label_value` of each label; at once for a column of integers or floats."""
    kind = labels.dtype.kind
    if kind in "iuf":
        values = labels.to_numpy(dtype=np.float64, na_value=np.nan)
        whole = np.isnan(values) | (np.isfinite(values) & (values == np.floor(values)))
        return np.where(whole, values, -np.inf)
    return np.fromiter((label_value(v) for v in labels), dtype=np.float64, count=len(labels))


def label_value(value: Any) -> float:
    """The label as a number if it is a whole number; NaN for null, -inf for anything else."""
    if is_null(value):
        return math.nan
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return -math.inf
    return float(value) if float(value).is_integer() else -math.inf


class Features(RowFormat):
    """`features` (a list of numbers, one length per file) and `label` (a class index)."""

    name = "features"
    kind = "features"
    columns = (Column("features", "list of numbers", _is_vector), Column("label", "integer", _is_number))
    needs = "'features' and 'label'"

    def checks(self, limits: Limits) -> list[Check]:
        return [
            Check(
                "null_features", "features", "ExpectColumnValuesToNotBeInSet", "_features_length", {"value_set": [-1]}
            ),
            Check(
                "bad_type_features",
                "features",
                "ExpectColumnValuesToNotBeInSet",
                "_features_length",
                {"value_set": [-2]},
                hint="features must be a list of numbers (not strings that look like numbers)",
            ),
            Check(
                "non_finite_features",
                "features",
                "ExpectColumnValuesToBeInSet",
                "_features_finite",
                {"value_set": [True]},
                hint="features must be finite numbers within float32's range (|x| ≤ 3.4e38)",
            ),
            Check("null_label", "label", "ExpectColumnValuesToNotBeNull", "_label"),
            Check(
                "bad_label",
                "label",
                "ExpectColumnValuesToBeBetween",
                "_label",
                {"min_value": 0, "max_value": MAX_LABEL},
                hint=f"labels are class indices: whole numbers from 0 to {MAX_LABEL}",
            ),
        ]

    def facts(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        stacked = _stacked(frame["features"].to_numpy())
        if stacked is not None:  # every value a numeric vector of one length (as Parquet lists arrive): at once
            lengths = np.full(len(frame), stacked.shape[1], dtype=np.int64)
            finite = (np.abs(stacked.astype(np.float64)) <= FLOAT32_MAX).all(1).astype(object)
        else:
            vectors = [vector_facts(v) for v in frame["features"]]
            lengths = np.fromiter((n for n, _ in vectors), dtype=np.int64, count=len(frame))
            finite = np.array([ok for _, ok in vectors], dtype=object)
        return {"_features_length": lengths, "_features_finite": finite, "_label": label_values(frame["label"])}

    def fixed_by(self, validation: pd.DataFrame) -> dict[str, Any]:
        """The feature length (the validation set's most common) and the labels every other file must match."""
        lengths = validation["features"].map(lambda v: len(v) if hasattr(v, "__len__") else -1)
        labels = {label_value(v) for v in validation["label"]}
        whole = sorted(int(v) for v in labels if math.isfinite(v) and 0 <= v <= MAX_LABEL)
        return {"feature_dim": int(lengths.mode().iloc[0]), "labels": tuple(whole)}

    def target_checks(self, fixed: dict[str, Any]) -> list[Check]:
        dim, labels = fixed["feature_dim"], fixed["labels"]
        return [
            Check(
                "feature_length",
                "features",
                "ExpectColumnValuesToBeBetween",
                "_features_length",
                {"min_value": dim, "max_value": dim},
                hint=f"the validation set's feature vectors have length {dim}",
            ),
            Check(
                "unknown_label",
                "label",
                "ExpectColumnValuesToBeInSet",
                "_label",
                {"value_set": [float(v) for v in labels]},
                hint=f"labels must be among the validation set's: {list(labels)}",
            ),
        ]

    def normalize(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["features"] = [np.asarray(v, dtype=np.float32) for v in frame["features"]]
        frame["label"] = frame["label"].astype("float64").astype("int64")
        return frame
