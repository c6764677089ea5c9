"""A run's outputs: the validation's files, the scores, the selection in the formats asked and the
plot, moved into place with report.json last."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from targets import feature_files, run_config, scored_and_chosen, target_run

from curation.outputs import StagedOutputs
from curation.run.outputs import stage_validation, write_outputs
from curation.run.report import Curated, build_report


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    config = run_config(feature_files(root), root, method="random", skip_finetune=True, budget=12)
    run = target_run(config, root / "spill")
    return config, run, Curated(*scored_and_chosen(config, run, root / "scores.parquet"), None)


@pytest.mark.parametrize(
    "export,selection",
    [
        ("both", ["selection.jsonl", "selection.parquet"]),
        ("jsonl", ["selection.jsonl"]),
        ("parquet", ["selection.parquet"]),
    ],
)
def test_every_output_is_moved_into_place_and_report_json_comes_last(staged, tmp_path, export, selection):
    config, run, curated = staged
    config = config.model_copy(update={"out": str(tmp_path / "out"), "export_format": export})
    report = build_report(config, run, curated, {"score": 1.0})
    write_outputs(StagedOutputs(config.out), report, run.pool, curated)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = ["quarantine.parquet", "report.json", "score-distribution.png", "scores.parquet", "validation.json"]
    assert files == sorted(expected + selection)  # no staging folder left
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report.as_json()
    newest = max((tmp_path / "out").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert newest.name == "report.json"
    assert pd.read_parquet(tmp_path / "out" / "scores.parquet")["id"].tolist() == run.pool.load_valid()["id"].tolist()
    if "selection.jsonl" in selection:
        lines = pd.read_json(tmp_path / "out" / "selection.jsonl", lines=True)
        assert lines["id"].tolist() == curated.chosen.frame["id"].tolist() and len(lines) == 12
        assert lines["rank"].tolist() == list(range(1, 13))


def test_the_validation_outputs_name_the_pool_and_its_files(staged, tmp_path):
    config, run, _ = staged
    outputs = StagedOutputs(str(tmp_path / "out"))
    stage_validation(outputs, "s3://bucket/pool.parquet", run.pool)
    outputs.publish_rejected({"reason": "test"})
    validation = json.loads((tmp_path / "out" / "validation.json").read_text())
    assert validation["pool"] == "s3://bucket/pool.parquet" and validation["files"] == run.pool.files
    assert validation["expectations"] == run.pool.expectations and len(validation["expectations"]) > 0
    assert len(pd.read_parquet(tmp_path / "out" / "quarantine.parquet")) == 0
