"""Row checks as Great Expectations suites, built on an ephemeral context from a table of `Check`s.

Each expectation carries the quarantine reason of the rows it fails as a value (its `meta`). Values
whose type Python must judge (vector lengths, finiteness, whether a value is text) are facts the
row format derives first, so GX never meets a value it cannot compare. `great_expectations` takes
~3 s to import and is imported here only, when the validate step first builds a suite.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from curation.formats.base import Check
from curation.rows import HASH_COLUMN

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


@dataclass
class ExpectationStats:
    expectation: str
    reason: str
    rows_checked: int = 0
    rows_failed: int = 0


Facts = Callable[[pd.DataFrame], dict[str, np.ndarray]]  # the derived columns the checks read


class RowSuite:
    """A GX expectation suite built from a table of checks; `reasons` names each row's first failure.

    `facts` derives the columns the checks read that are not row columns (the row format's facts).
    """

    @property
    def reads(self) -> set[str]:
        """The columns the checks read (row columns or facts)."""
        return {check.reads for check in self.checks.values()}

    def __init__(self, name: str, checks: list[Check], facts: Facts):
        import great_expectations as gx

        self.checks, self.facts = {check.reason: check for check in checks}, facts
        context = _context()
        asset = context.data_sources.add_or_update_pandas(name).add_dataframe_asset("batch")
        batch_definition = asset.add_batch_definition_whole_dataframe("batch")
        self.expectations = [(check.reason, _expectation(gx.expectations, check)) for check in checks]
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

    def _helpers(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The columns the expectations read: row columns as they are, and the derived facts."""
        helpers = pd.DataFrame(index=pd.RangeIndex(len(frame)))
        reads = dict.fromkeys(check.reads for check in self.checks.values())
        # Facts cost a pass in Python over every row: derived only when a check reads one.
        derived = self.facts(frame) if any(column not in frame.columns for column in reads) else {}
        for column in reads:
            if column in derived:
                helpers[column] = derived[column]
            elif column == HASH_COLUMN:
                helpers[column] = frame[column].astype(str).to_numpy()
            elif column in frame.columns:
                helpers[column] = frame[column].to_numpy()
            else:  # an optional column a file lacks: every value missing (e.g. no lone surrogates)
                helpers[column] = np.full(len(frame), None, dtype=object)
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


def _expectation(gxe, check: Check):
    """The GX expectation that judges a check, carrying the check's reason."""
    expectation = getattr(gxe, check.expectation)(column=check.reads, **check.options)
    expectation.meta = {"reason": check.reason}
    return expectation
