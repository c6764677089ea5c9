"""Property: any table, however malformed, ends as valid rows plus quarantined rows, or one InputError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from curation.errors import InputError
from curation.io.batches import read_rows
from curation.io.sources import open_source
from curation.validation.pool import check_pool
from curation.validation.target import reference_from

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12)
)
VALUES = st.one_of(
    SCALARS,
    st.lists(st.one_of(st.floats(-3, 3), st.integers(-3, 3), st.none(), st.text(max_size=2)), max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
KEYS = st.sampled_from(["id", "prompt", "response", "text", "features", "label", "extra"])
RECORDS = st.lists(st.dictionaries(KEYS, VALUES, min_size=0, max_size=6), min_size=1, max_size=25)


def _references(root: Path):
    pd.DataFrame({"features": [[0.0, 1.0, 2.0], [1.0, 1.0, 0.0], [2.0, 0.0, 1.0]], "label": [0, 1, 2]}).to_parquet(
        root / "val-features.parquet"
    )
    pd.DataFrame({"prompt": ["a", "b"], "response": ["first answer", "second answer"]}).to_parquet(
        root / "val-text.parquet"
    )
    return {
        kind: reference_from(read_rows(str(root / f"val-{kind}.parquet")), kind)[0] for kind in ("features", "text")
    }


ROOT = Path(tempfile.mkdtemp(prefix="curate-hypothesis-"))
REFERENCES = _references(ROOT)


GOOD_ROW = {
    "features": {"id": "good-row", "features": [0.5, 0.5, 0.5], "label": 1},
    "text": {"id": "good-row", "prompt": "p", "response": "fine"},
}
ACCOUNTED = []


# Found in CI: a bad row's `label` of `true` quarantined while scanning, another's `0` by the target
# checks: the two reject tables disagreed on the column's type.
@example(
    records=[
        {"id": False, "prompt": None, "response": None},
        {"id": None, "prompt": None, "response": None, "text": None, "features": None, "label": True},
        {"id": 4, "label": 0, "features": []},
    ],
    kind="features",
    as_parquet=False,
    good_at=0,
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=RECORDS, kind=st.sampled_from(["features", "text"]), as_parquet=st.booleans(), good_at=st.integers(0, 25)
)
def every_row_is_valid_or_quarantined(records, kind, as_parquet, good_at):
    # One well-formed row among the malformed ones, so most tables reach row-level accounting.
    records = records[:good_at] + [GOOD_ROW[kind]] + records[good_at:]
    path = ROOT / f"pool-{abs(hash(json.dumps(records, default=str)))}"
    if as_parquet:
        try:
            pd.DataFrame.from_records(records).to_parquet(path.with_suffix(".parquet"))
            path = path.with_suffix(".parquet")
        except Exception:  # Arrow cannot store this mix of types: it can only arrive as JSONL
            as_parquet = False
    if not as_parquet:
        path = path.with_suffix(".jsonl")
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    try:
        checked = check_pool(open_source(str(path)), REFERENCES[kind], str(path) + ".spill", max_share())
    except InputError as err:
        assert str(err)  # a clear message, never a traceback
        return
    assert checked.rows_read == len(records)
    assert checked.valid_rows + len(checked.quarantine) == checked.rows_read
    assert checked.quarantine["reason"].map(lambda r: isinstance(r, str) and len(r) > 0).all()
    assert sum(checked.reasons.values()) == len(checked.quarantine)
    ACCOUNTED.append(len(records))
    if checked.valid_rows:
        valid = checked.load_valid()
        assert len(valid) == checked.valid_rows and valid["id"].is_unique
        if kind == "features":
            assert all(len(v) == 3 and np.isfinite(v).all() for v in valid["features"])
            assert set(valid["label"]) <= {0, 1, 2}


def max_share():
    from curation.formats import Limits

    return Limits(max_reject_share=1.0)  # let every table through to row level, to check the accounting


def test_every_row_is_valid_or_quarantined_and_nothing_else_escapes():
    """The property over generated pools, then a guard against a property that passes only because
    every table was refused whole: enough examples reached row-level accounting."""
    ACCOUNTED.clear()
    every_row_is_valid_or_quarantined()
    assert len(ACCOUNTED) >= 20
