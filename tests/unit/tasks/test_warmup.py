"""The calibrate and warmup tasks: judging on folds only where a method trains θT or auto chooses,
too small a validation set keeps the run's warmup, and θT is trained once then loaded."""

from __future__ import annotations

import dataclasses
import json

import pytest
from prefect.logging import disable_run_logger
from targets import feature_files, in_a_flow_run, run_config, target_run

from curation.run.settings import WarmupSettings
from tasks.warmup import calibrate_warmup, needs_calibration, warmup


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return feature_files(tmp_path_factory.mktemp("warmup"))


def test_folds_are_judged_to_choose_a_method_or_to_calibrate_the_warmup_of_a_method_that_trains_one(files, tmp_path):
    config = run_config(files, tmp_path)
    run, calibrated = target_run(config, tmp_path / "spill"), WarmupSettings.of(config)
    fixed = dataclasses.replace(calibrated, mode="fixed")
    for method, settings, needed in (
        ("auto", calibrated, True),
        ("auto", fixed, True),  # auto needs the loss drop's held-out figure even for a fixed warmup
        ("lossdrop", calibrated, True),
        ("blend", calibrated, True),
        ("lossdrop", fixed, False),
        ("embedding", calibrated, False),  # no θT
        ("random", calibrated, False),
    ):
        assert needs_calibration(dataclasses.replace(run, method=method), settings) is needed, (method, settings.mode)


def test_too_few_validation_rows_keep_the_runs_warmup(tmp_path):
    small = feature_files(tmp_path / "small", validation=7)
    config = run_config(small, tmp_path, test=small["test"])
    run = target_run(config, tmp_path / "spill")
    with disable_run_logger():
        calibrated = calibrate_warmup.fn(run, WarmupSettings.of(config))
    assert calibrated.calibration.status == "skipped" and calibrated.warmup == run.warmup


def test_theta_t_is_trained_once_then_loaded_from_the_cache(files, tmp_path):
    config = run_config(files, tmp_path, warmup_steps=20)
    run, settings = target_run(config, tmp_path / "spill"), WarmupSettings.of(config)
    with disable_run_logger():
        warmed = warmup.fn(run, settings)
        again = warmup.fn(run, settings)
    assert (warmed.warm.status, again.warm.status) == ("miss", "hit") and run.warm is None
    assert warmed.warm.manifest["facts"]["config"] == run.warmup.as_dict()
    assert (tmp_path / "cache" / "warmup" / run.keys.warmup / "manifest.json").exists()
    rows = run.target.warm_rows
    assert run.adapter.losses(rows, "warm").mean() < run.adapter.losses(rows, "theta0").mean()


def test_a_calibrated_warmup_replaces_the_runs_and_its_table_is_shown(files, tmp_path, prefect_api_url):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    from tasks.warmup import CALIBRATION_KEY

    config = run_config(files, tmp_path, calibration_folds=2)
    run = target_run(config, tmp_path / "spill")
    calibrated, flow_run_id = in_a_flow_run(lambda: calibrate_warmup(run, WarmupSettings.of(config)))
    found = calibrated.calibration
    assert found.status == "miss" and calibrated.warmup == found.config and found.grid == "features"
    with get_client(sync_client=True) as client:
        (shown,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[CALIBRATION_KEY])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        )
    assert json.loads(shown.data) == found.table and "grid features" in shown.description
