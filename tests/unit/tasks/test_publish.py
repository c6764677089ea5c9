"""The publish tasks: a finished run's outputs into place with its dashboards, and a refused pool's
quarantine and reason (rejected.json, no report.json), each shown in the Prefect UI."""

from __future__ import annotations

import json

import pytest
from targets import feature_files, in_a_flow_run, run_config, scored_and_chosen, target_run

from curation.outputs import StagedOutputs
from curation.pool import PoolRejected
from curation.run.report import Curated, build_report
from tasks.publish import publish, publish_rejection


@pytest.fixture
def staged(tmp_path):
    config = run_config(feature_files(tmp_path / "data"), tmp_path, method="random", skip_finetune=True)
    run = target_run(config, tmp_path / "spill")
    return config, run, Curated(*scored_and_chosen(config, run, tmp_path / "scores.parquet"), None)


def test_a_run_is_published_with_report_json_last(staged, tmp_path, prefect_api_url):
    config, run, curated = staged
    report = build_report(config, run, curated, {"score": 1.0})
    in_a_flow_run(lambda: publish(StagedOutputs(config.out), report, run.pool, curated))
    assert json.loads((tmp_path / "out" / "report.json").read_text())["counts"]["selected"] == 10
    assert {"scores.parquet", "selection.parquet", "selection.jsonl"} <= {p.name for p in (tmp_path / "out").iterdir()}


def test_a_refused_pool_publishes_its_quarantine_and_why_but_no_report(staged, tmp_path, prefect_api_url):
    config, run, _ = staged
    refusal = PoolRejected("too many rows rejected", run.pool)
    in_a_flow_run(lambda: publish_rejection(StagedOutputs(config.out), config, refusal))
    rejected = json.loads((tmp_path / "out" / "rejected.json").read_text())
    assert rejected == {
        "pool": config.pool, "reason": "too many rows rejected",
        "counts": {"rows_read": 120, "valid": 120, "quarantine_reasons": {}},
    }  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "quarantine.parquet",
        "rejected.json",
        "validation.json",
    ]
