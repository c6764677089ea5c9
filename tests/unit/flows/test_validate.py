"""`curate validate`: ingest and validate alone; the summary says what a run would read and set aside,
and a pool a run would refuse still gets its quarantine and the reason (the command line on chat rows:
tests/e2e/test_chat_flow.py)."""

from __future__ import annotations

import json

import pandas as pd
from targets import feature_files, run_config

from curation.pool import AdmittedPool
from flows.validate import SUMMARY, summary_of, validate_only


def test_the_summary_holds_the_counts_the_reasons_and_the_refusal(tmp_path):
    config = run_config(feature_files(tmp_path), tmp_path, max_length=64, budget=1)
    pool = AdmittedPool(
        valid_parts=[], quarantine=pd.DataFrame(), rows_read=10, valid_rows=7, reasons={"null_label": 3},
        expectations=[], pool_hash="h", cache="hit", truncated=2,
    )  # fmt: skip
    summary = summary_of(config, pool, 1.23456, refused=None)
    assert summary == {
        "pool": config.pool, "validation": config.validation, "model": "linear", "max_length": 64,
        "truncation": "keep-answer", "rows_read": 10, "valid": 7, "quarantined": 3,
        "quarantine_reasons": {"null_label": 3}, "truncated": 2, "validated_pool_cache": "hit", "seconds": 1.235,
        "refused": None,
    }  # fmt: skip


def test_a_validation_publishes_the_quarantine_and_a_refused_pool_says_why(tmp_path, prefect_api_url):
    files = feature_files(tmp_path / "data")
    config = run_config(files, tmp_path, budget=1)
    summary = validate_only(config)
    assert (summary["rows_read"], summary["valid"], summary["refused"]) == (120, 120, None)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "quarantine.parquet", "validation-summary.json", "validation.json"
    ]  # fmt: skip
    assert json.loads((tmp_path / "out" / SUMMARY).read_text()) == summary
    bad = pd.read_parquet(files["pool"])
    bad.loc[:79, "label"] = 9  # two thirds of the rows name a class the validation set has not
    bad.to_parquet(tmp_path / "bad.parquet")
    refused = validate_only(run_config({**files, "pool": str(tmp_path / "bad.parquet")}, tmp_path / "b", budget=1))
    assert refused["valid"] == 40 and refused["quarantine_reasons"] == {"unknown_label": 80}
    assert "80 of 120 pool rows are invalid" in refused["refused"]
    assert len(pd.read_parquet(tmp_path / "b" / "out" / "quarantine.parquet")) == 80
