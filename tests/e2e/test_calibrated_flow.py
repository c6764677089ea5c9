"""The calibrated warmup and the score's start point, through the real flow and command line."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from runs import curate_run, on_task, run_args

pytestmark = pytest.mark.usefixtures("prefect_api_url")


def test_the_default_calibrates_reports_its_grid_and_trains_the_winner(labelled_task, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    report = curate_run(
        **on_task(labelled_task), budget=50, out=str(tmp_path / "out"), cache=str(tmp_path / "c"), skip_finetune=True
    )
    calibration, warmup = report["calibration"], report["effective"]["warmup"]
    assert calibration["status"] == "miss" == report["cache"]["calibration"] and calibration["folds"] == 3
    chosen = [row for row in calibration["table"] if row["chosen"]]
    assert len(chosen) == 1 and len(calibration["table"]) <= 3 * 4  # 3 lrs × 4 step counts, raced
    assert chosen[0]["dropped"] == "" and chosen[0]["folds"] == 3  # the winner ran the whole race
    assert (chosen[0]["lr"], chosen[0]["steps"]) == (warmup["lr"], warmup["steps"]) and warmup == calibration["chosen"]
    best = max(row["specificity"] for row in calibration["table"])
    assert chosen[0]["specificity"] == best
    assert 0 < report["cost"]["calibration_steps"] == calibration["steps_trained"] < 3 * 120 * 3  # the race cut it
    assert report["cost"]["warmup_steps"] == warmup["steps"] and report["timings"]["calibrate"] > 0
    assert calibration["reference_rows"] == 128 and report["effective"]["start"] == "theta0"
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["warmup-calibration"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[report["flow_run"]])),
        )
    assert len(artifacts) == 1 and artifacts[0].type == "table"
    assert len(json.loads(artifacts[0].data)) == len(calibration["table"])


@pytest.mark.parametrize("fixed", [{"warmup": "fixed"}, {"warmup_steps": 12}, {"warmup_lr": 0.02}])
def test_a_fixed_setting_skips_the_calibration(labelled_task, tmp_path, fixed):
    report = curate_run(
        **on_task(labelled_task),
        budget=50,
        out=str(tmp_path / "out"),
        cache=str(tmp_path / "c"),
        skip_finetune=True,
        method="lossdrop",  # `auto` judges even a fixed warmup on the folds (test_method_choice_flow.py)
        **fixed,
    )
    assert report["calibration"] is None and report["cache"]["calibration"] == "not-used"
    assert "calibrate" not in report["timings"] and report["cost"]["calibration_steps"] == 0
    assert report["effective"]["warmup"]["steps"] == fixed.get("warmup_steps", 60)
    assert not (tmp_path / "c" / "calibration").exists()


def test_too_few_validation_rows_to_fold_use_the_fixed_default(labelled_task, tmp_path):
    small = tmp_path / "small.parquet"
    validation = pd.read_parquet(labelled_task["validation"])
    pd.concat([validation.groupby("label").head(1), validation.iloc[:2]]).drop_duplicates("features").to_parquet(small)
    report = curate_run(
        pool=str(labelled_task["pool"]),
        validation=str(small),
        test=str(labelled_task["test"]),
        model="linear",
        budget=50,
        out=str(tmp_path / "out"),
        cache=str(tmp_path / "c"),
        skip_finetune=True,
    )
    assert report["cache"]["calibration"] == "skipped" and report["calibration"]["table"] == []
    assert report["effective"]["warmup"]["steps"] == 60 and report["cache"]["warmup"] == "miss"


def test_the_start_point_shares_theta_t_but_not_the_row_scores(labelled_task, tmp_path):
    common = dict(**on_task(labelled_task), budget=50, cache=str(tmp_path / "c"), skip_finetune=True, warmup="fixed")
    one = curate_run(**common, out=str(tmp_path / "one"), start="theta1")
    zero = curate_run(**common, out=str(tmp_path / "zero"), start="theta0")
    assert zero["cache"]["warmup"] == "hit" and zero["hashes"]["warmup_key"] == one["hashes"]["warmup_key"]
    assert zero["cache"]["rows_scored"] == one["cache"]["rows_scored"] > 0  # no row score of the other start
    assert one["hashes"]["row_score_key"] != zero["hashes"]["row_score_key"]
    first, base = (pd.read_parquet(tmp_path / name / "scores.parquet") for name in ("one", "zero"))
    pd.testing.assert_series_equal(first["loss_warm"], base["loss_warm"])  # the same θT
    assert (first["loss_base"] != base["loss_base"]).mean() > 0.99  # ℓ(θ1) is not ℓ(θ0)


def test_both_start_points_share_one_calibration_and_theta_t(labelled_task, tmp_path):
    """Candidates are judged from θ0, so the calibration (and the θT it picks) serves either start."""
    common = dict(**on_task(labelled_task), budget=50, cache=str(tmp_path / "c"), skip_finetune=True)
    one = curate_run(**common, out=str(tmp_path / "one"), start="theta1")
    zero = curate_run(**common, out=str(tmp_path / "zero"), start="theta0")
    assert (one["cache"]["calibration"], zero["cache"]["calibration"]) == ("miss", "hit")
    assert one["calibration"]["key"] == zero["calibration"]["key"] and zero["cache"]["warmup"] == "hit"
    assert zero["cost"]["calibration_steps"] == 0 == zero["cost"]["warmup_steps"]
    assert zero["cache"]["rows_scored"] > 0  # the row scores are per start point


def test_the_command_line_names_the_chosen_warmup(labelled_task, tmp_path, curate_cli):
    args = [*run_args(labelled_task, budget=50), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")]
    first = curate_cli(*args, "--skip-finetune", check=True)
    assert "warmup: all weights, lr " in first.stdout and "(calibrated on 3 folds: cache miss)" in first.stdout
    args[args.index("--out") + 1] = str(tmp_path / "again")
    again = curate_cli(*args, "--skip-finetune", check=True)
    assert "(calibrated on 3 folds: cache hit)" in again.stdout and "scores from theta0" in again.stdout
