"""The outputs that span several targets: the joint selection with a `target` column (each row once),
the scores with one column per target (no score where a target did not admit a row), and report.json
written last."""

from __future__ import annotations

import json

import pandas as pd
from reports import a_report

from curation.config import CurateConfig
from curation.outputs import StagedOutputs
from curation.run.targets_report import TargetsReport, joint_scores, joint_selection, share_of, write_joint_outputs

FRAMES = {
    "code": pd.DataFrame({"id": ["a", "b"], "score": [0.9, 0.8], "rank": [1, 2], "text": ["x", "y"]}),
    "math": pd.DataFrame({"id": ["c"], "score": [0.7], "rank": [1], "text": ["z"]}),
}


def scores_files(tmp_path) -> dict[str, str]:
    paths = {}
    for name, frame in {"code": ["a", "b", "c"], "math": ["a", "c"]}.items():
        paths[name] = str(tmp_path / f"{name}.parquet")
        pd.DataFrame({"id": frame, "score": range(len(frame)), "loss_base": 1.0}).to_parquet(paths[name])
    return paths


def test_the_joint_selection_names_each_rows_target_after_its_id():
    joint = joint_selection(FRAMES)
    assert list(joint.columns) == ["id", "target", "score", "rank", "text"]
    assert joint["target"].tolist() == ["code", "code", "math"] and joint["id"].is_unique


def test_the_joint_scores_have_a_column_per_target_and_none_where_a_target_did_not_admit_the_row(tmp_path):
    joint = joint_scores(scores_files(tmp_path)).set_index("id")
    assert list(joint.columns) == ["score_code", "score_math"]
    assert joint.loc["b", "score_code"] == 1 and pd.isna(joint.loc["b", "score_math"])


def test_report_json_comes_last_and_vouches_for_the_joint_files(tmp_path):
    config = CurateConfig.parse(
        pool="p.parquet", targets=["code=c.parquet:3", "math=m.parquet"], model="linear", budget=3, out=str(tmp_path)
    )
    shares = [share_of("code", 3.0, a_report(), (2, 0)), share_of("math", 1.0, a_report(evaluation=None), (1, 1))]
    counts = {"selected": 3, "rows_read": 10, "passes_per_row": 3.0}
    report = TargetsReport(config=config, targets=shares, **counts, flow_run="", finished_at="2026-12-06T00:00:00")
    outputs = StagedOutputs(str(tmp_path))
    write_joint_outputs(outputs, report, FRAMES, scores_files(tmp_path))
    written = json.loads((tmp_path / "report.json").read_text())
    assert [t["name"] for t in written["targets"]] == ["code", "math"] and written["targets"][1]["lift"] is None
    assert written["targets"][0]["report"] == "targets/code/report.json"
    assert (tmp_path / "report.json").stat().st_mtime_ns >= (tmp_path / "selection.jsonl").stat().st_mtime_ns
    assert not list(tmp_path.glob(".staging-*"))
