"""A GX suite built from a table of checks: each row gets its first failing check's reason (a value
from the table), missing optional columns read as empty, and the per-check figures add up."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curation.expectations import RowSuite
from curation.formats.base import Check


def facts(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"_len": np.array([len(v) if isinstance(v, str) else -1 for v in frame["text"]])}


CHECKS = [
    Check("no_text", "text", "ExpectColumnValuesToNotBeInSet", "_len", {"value_set": [-1]}),
    Check("too_long", "text", "ExpectColumnValuesToBeBetween", "_len", {"min_value": 0, "max_value": 5}),
    Check("flagged", "flag", "ExpectColumnValuesToBeNull", "flag"),
]


def test_each_row_gets_its_first_failing_checks_reason():
    suite = RowSuite("unit-rows", CHECKS, facts)
    frame = pd.DataFrame({"text": ["ok", None, "much too long", "fine"], "flag": [None, "x", "x", None]})
    assert suite.reasons(frame).tolist() == [None, "no_text", "too_long", None]
    figures = {s["reason"]: s for s in suite.summary()}
    assert figures["flagged"]["rows_failed"] == 2 and figures["no_text"]["rows_failed"] == 1
    assert all(s["rows_checked"] == 4 for s in figures.values())
    assert figures["too_long"]["expectation"] == "expect_column_values_to_be_between(_len)"


def test_a_column_the_file_lacks_reads_as_missing_values():
    suite = RowSuite("unit-rows-no-flag", CHECKS, facts)
    assert suite.reasons(pd.DataFrame({"text": ["ok", "toolong!"]})).tolist() == [None, "too_long"]
    assert suite.reasons(pd.DataFrame({"text": pd.Series([], dtype=object)})).tolist() == []
