"""Admission: the target's checks (labels, feature length, leakage) over a scanned pool's cached
rows; admitted rows as shards (the cached part itself where all of it is admitted), rejected ones
in pool order; a pool with too large a share of bad rows refused whole."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from curation.cache.pools import obtain_checked_pool
from curation.formats import Limits
from curation.io.batches import read_rows
from curation.io.sources import open_source
from curation.pool import PoolRejected
from curation.rows import FILE_COLUMN, ROW_COLUMN
from curation.validation.admit import admit
from curation.validation.scan import scan_pool
from curation.validation.target import check_target


def write_lines(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def scanned(pool: str, target, cache: str, limits: Limits = Limits()):
    source = open_source(pool)
    return obtain_checked_pool(lambda local: scan_pool(source, target.ref.row_format, limits, local), cache, "test-key")


def feature_target(tmp_path):
    validation = [{"features": [float(i), 1.0, 0.5], "label": i % 3} for i in range(8)]
    pd.DataFrame(validation).to_parquet(tmp_path / "validation.parquet")
    return check_target(read_rows(str(tmp_path / "validation.parquet")), None, "features", Limits())


def test_the_targets_checks_judge_the_cached_rows_and_the_rejected_join_the_quarantine_in_pool_order(tmp_path):
    target = feature_target(tmp_path)
    leaked = target.validation.iloc[0]
    (tmp_path / "pool").mkdir()
    pd.DataFrame({"features": [[1.0, 1.0, 1.0], [1.0, 2.0], [2.0, 2.0, 2.0]], "label": [0, 1, 1]}).to_parquet(
        tmp_path / "pool" / "a.parquet"
    )
    pd.DataFrame(
        {
            "features": [list(leaked["features"]), [3.0, 3.0, 3.0], [4.0, 4.0, 4.0]],
            "label": [int(leaked["label"]), 7, 2],
        }
    ).to_parquet(tmp_path / "pool" / "b.parquet")
    valid = scanned(str(tmp_path / "pool"), target, str(tmp_path / "cache"), Limits(batch_rows=2))
    checked = admit(valid, target, str(tmp_path / "spill"), Limits(max_reject_share=0.6))
    assert checked.rows_read == 6 and checked.valid_rows == 3 and checked.cache == "miss"
    where = list(
        zip(checked.quarantine[FILE_COLUMN].map(lambda f: f.rsplit("/", 1)[-1]), checked.quarantine[ROW_COLUMN])
    )
    assert where == [("a.parquet", 1), ("b.parquet", 0), ("b.parquet", 1)]
    assert checked.quarantine["reason"].tolist() == ["feature_length", "leakage", "unknown_label"]
    assert checked.reasons == {"feature_length": 1, "leakage": 1, "unknown_label": 1}
    assert [list(v) for v in checked.load_valid()["features"]] == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [4.0, 4.0, 4.0]]
    assert {e["reason"] for e in checked.expectations} >= {"feature_length", "unknown_label", "leakage", "duplicate"}


def test_a_part_admitted_whole_is_the_cached_part_itself(tmp_path):
    write_lines(tmp_path / "v.jsonl", [{"prompt": "v", "response": f"val {i}"} for i in range(8)])
    target = check_target(read_rows(str(tmp_path / "v.jsonl")), None, "text", Limits())
    write_lines(tmp_path / "pool.jsonl", [{"prompt": "q", "response": f"answer {i}"} for i in range(5)])
    valid = scanned(str(tmp_path / "pool.jsonl"), target, str(tmp_path / "cache"), Limits(batch_rows=2))
    checked = admit(valid, target, str(tmp_path / "spill"), Limits())
    assert checked.valid_parts == [f"{valid.url}/part-0000{i}.parquet" for i in range(3)]
    assert checked.valid_rows == 5 and checked.quarantine.empty and list((tmp_path / "spill").iterdir()) == []


def test_a_pool_mostly_bad_for_the_target_is_refused_naming_its_first_bad_row(tmp_path):
    target = feature_target(tmp_path)
    pd.DataFrame(
        {"features": [[1.0, float(i)] for i in range(3)] + [[9.0, 9.0, float(i)] for i in range(2)], "label": [0] * 5}
    ).to_parquet(tmp_path / "pool.parquet")
    valid = scanned(str(tmp_path / "pool.parquet"), target, str(tmp_path / "cache"))
    with pytest.raises(PoolRejected) as err:
        admit(valid, target, str(tmp_path / "spill"), Limits(max_reject_share=0.5))
    assert "3 of 5 pool rows are invalid (more than the allowed 50%); first: feature_length" in str(err.value)
    assert err.value.row == 0 and err.value.field == "features" and err.value.pool.valid_rows == 2
    assert admit(valid, target, str(tmp_path / "spill2"), Limits(max_reject_share=0.6)).valid_rows == 2
