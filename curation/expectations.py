"""Row checks as Great Expectations suites, defined in code on an ephemeral context.

Each expectation carries the quarantine reason of the rows it fails. Values whose type Python
must judge (vector lengths, finiteness, whether a value is text) go into helper columns first,
so GX never meets a value it cannot compare. `great_expectations` takes ~3 s to import and is
imported here only, when the validate step first builds a suite.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curation.rows import UNICODE_COLUMN

_CONTEXT = None


def _context():
    """One ephemeral GX context per process: no project on disk, no analytics, no progress bars."""
    global _CONTEXT
    if _CONTEXT is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        _CONTEXT = gx.get_context(mode="ephemeral")
        _CONTEXT.variables.progress_bars = ProgressBarsConfig(globally=False)
    return _CONTEXT


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value))


def _text_chars(value: Any) -> int:
    """Length of a string; -1 for null, -2 for a value that is not text."""
    if _is_null(value):
        return -1
    return len(value) if isinstance(value, str) else -2


def _vector_facts(value: Any) -> tuple[int, bool]:
    """(length, all finite) of a numeric vector, converting it once.

    Length is -1 for null and -2 for anything that is not a flat numeric list; such values count
    as finite here, since their own expectation already fails them.
    """
    if _is_null(value):
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


FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_LABEL = 65_535  # labels are class indices: 0..MAX_LABEL (a classifier has one output per class)


def _label_value(value: Any) -> float:
    """The label as a number if it is a whole number; NaN for null, -inf for anything else."""
    if _is_null(value):
        return math.nan
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return -math.inf
    return float(value) if float(value).is_integer() else -math.inf


@dataclass
class RowRules:
    """What a row of one file must satisfy."""

    kind: str  # "text" or "features"
    text_columns: tuple[str, ...] = ()
    feature_dim: int | None = None
    labels: tuple[int, ...] = ()
    min_chars: int = 1
    max_chars: int = 100_000
    has_id: bool = False
    forbidden_hashes: frozenset[str] = field(default_factory=frozenset)  # leakage: val/test rows


@dataclass
class ExpectationStats:
    expectation: str
    reason: str
    rows_checked: int = 0
    rows_failed: int = 0


class RowSuite:
    """A GX expectation suite over one kind of row; `reasons` names each row's first failure."""

    def __init__(self, name: str, rules: RowRules):
        import great_expectations as gx

        self.rules = rules
        context = _context()
        asset = context.data_sources.add_or_update_pandas(name).add_dataframe_asset("batch")
        batch_definition = asset.add_batch_definition_whole_dataframe("batch")
        self.expectations = self._expectations(gx.expectations, rules)
        suite = gx.ExpectationSuite(name=name, expectations=[e for _, e in self.expectations])
        if any(s.name == name for s in context.suites.all()):
            context.suites.delete(name)
        suite = context.suites.add(suite)
        if any(v.name == name for v in context.validation_definitions.all()):
            context.validation_definitions.delete(name)
        self.validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        self.stats = {reason: ExpectationStats(self._describe(e), reason) for reason, e in self.expectations}

    @staticmethod
    def _describe(expectation) -> str:
        config = expectation.configuration
        return f"{config.type}({config.kwargs.get('column')})"

    @staticmethod
    def _expectations(gxe, rules: RowRules) -> list[tuple[str, Any]]:
        """(reason, expectation) in the order a row's first failure is reported."""
        e: list[tuple[str, Any]] = []
        e.append(("invalid_unicode", gxe.ExpectColumnValuesToBeNull(column="_invalid_unicode")))
        if rules.has_id:
            e.append(("null_id", gxe.ExpectColumnValuesToNotBeNull(column="id")))
        if rules.kind == "text":
            for column in rules.text_columns:
                chars = f"_{column}_chars"
                if column == "prompt":  # may be empty or missing, but must be text when present
                    e.append(("bad_type_prompt", gxe.ExpectColumnValuesToNotBeInSet(column=chars, value_set=[-2])))
                    continue
                e.append((f"null_{column}", gxe.ExpectColumnValuesToNotBeInSet(column=chars, value_set=[-1])))
                e.append((f"bad_type_{column}", gxe.ExpectColumnValuesToNotBeInSet(column=chars, value_set=[-2])))
                e.append(
                    (
                        f"{column}_length",
                        gxe.ExpectColumnValuesToBeBetween(
                            column=chars, min_value=rules.min_chars, max_value=rules.max_chars
                        ),
                    )
                )
        else:
            e.append(("null_features", gxe.ExpectColumnValuesToNotBeInSet(column="_features_length", value_set=[-1])))
            e.append(
                ("bad_type_features", gxe.ExpectColumnValuesToNotBeInSet(column="_features_length", value_set=[-2]))
            )
            if rules.feature_dim is not None:
                e.append(
                    (
                        "feature_length",
                        gxe.ExpectColumnValuesToBeBetween(
                            column="_features_length", min_value=rules.feature_dim, max_value=rules.feature_dim
                        ),
                    )
                )
            e.append(
                ("non_finite_features", gxe.ExpectColumnValuesToBeInSet(column="_features_finite", value_set=[True]))
            )
            e.append(("null_label", gxe.ExpectColumnValuesToNotBeNull(column="_label")))
            e.append(
                ("bad_label", gxe.ExpectColumnValuesToBeBetween(column="_label", min_value=0, max_value=MAX_LABEL))
            )
            if rules.labels:
                e.append(
                    (
                        "unknown_label",
                        gxe.ExpectColumnValuesToBeInSet(column="_label", value_set=[float(v) for v in rules.labels]),
                    )
                )
        if rules.forbidden_hashes:
            e.append(
                (
                    "leakage",
                    gxe.ExpectColumnValuesToNotBeInSet(
                        column="_content_hash", value_set=sorted(rules.forbidden_hashes)
                    ),
                )
            )
        for reason, expectation in e:
            expectation.meta = {"reason": reason}
        return e

    def _helpers(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The columns the expectations read, one per check that needs Python to judge a value."""
        helpers = pd.DataFrame(index=pd.RangeIndex(len(frame)))
        helpers["_invalid_unicode"] = (
            frame[UNICODE_COLUMN].to_numpy()
            if UNICODE_COLUMN in frame.columns
            else np.full(len(frame), None, dtype=object)
        )
        if self.rules.has_id:
            helpers["id"] = frame["id"].to_numpy()
        if self.rules.kind == "text":
            for column in self.rules.text_columns:
                values = frame[column] if column in frame.columns else pd.Series([None] * len(frame))
                helpers[f"_{column}_chars"] = np.fromiter(
                    (_text_chars(v) for v in values), dtype=np.int64, count=len(frame)
                )
        else:
            facts = [_vector_facts(v) for v in frame["features"]]
            helpers["_features_length"] = np.fromiter((n for n, _ in facts), dtype=np.int64, count=len(frame))
            helpers["_features_finite"] = [finite for _, finite in facts]
            helpers["_label"] = np.fromiter(
                (_label_value(v) for v in frame["label"]), dtype=np.float64, count=len(frame)
            )
        helpers["_content_hash"] = frame["_content_hash"].astype(str).to_numpy()
        return helpers

    def reasons(self, frame: pd.DataFrame) -> pd.Series:
        """Each row's first failed expectation's reason, or None; updates the per-expectation stats."""
        reasons = pd.Series([None] * len(frame), index=frame.index, dtype="object")
        if frame.empty:
            return reasons
        result = self.validation.run(
            batch_parameters={"dataframe": self._helpers(frame)}, result_format={"result_format": "COMPLETE"}
        )
        failed: dict[str, list[int]] = {}
        for item in result.results:
            reason = item.expectation_config.meta["reason"]
            if item.exception_info and item.exception_info.get("raised_exception"):
                raise RuntimeError(f"expectation for {reason} could not run: {item.exception_info}")
            failed[reason] = item.result.get("unexpected_index_list") or []
        positions = np.full(len(frame), -1)
        for order, (reason, _) in enumerate(self.expectations):
            stats = self.stats[reason]
            stats.rows_checked += len(frame)
            stats.rows_failed += len(failed.get(reason, []))
            index = np.asarray(failed.get(reason, []), dtype=np.int64)
            fresh = index[positions[index] < 0] if len(index) else index
            positions[fresh] = order
        names = [reason for reason, _ in self.expectations]
        bad = positions >= 0
        reasons.iloc[np.flatnonzero(bad)] = [names[p] for p in positions[bad]]
        return reasons

    def summary(self) -> list[dict[str, Any]]:
        return [
            {
                "expectation": s.expectation,
                "reason": s.reason,
                "rows_checked": s.rows_checked,
                "rows_failed": s.rows_failed,
                "success": s.rows_failed == 0,
            }
            for s in self.stats.values()
        ]
