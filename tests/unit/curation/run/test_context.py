"""The run context: built once after validation from the settings, then extended stage by stage
(the calibration's warmup, the chosen method, θT) into new contexts; the cache keys follow the warmup."""

from __future__ import annotations

import dataclasses

import pytest
from targets import feature_files, run_config, target_run

from curation.cache.warmups import Warmup
from curation.calibration import Calibration
from curation.method_choice import MethodChoice
from curation.models.base import WARMUP_DEFAULTS


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return feature_files(tmp_path_factory.mktemp("context"))


@pytest.fixture(scope="module")
def run(files, tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    return target_run(run_config(files, root), root / "spill")  # frozen: every test may share it


def test_the_context_begins_with_theta0_the_kinds_warmup_and_the_method_asked(run):
    assert (
        run.kind == "features" and run.target.ref.format == "features" and run.target.eval_set == "validation-holdout"
    )
    assert (run.spec.model, run.spec.feature_dim, run.spec.num_classes) == ("linear", 4, 3)
    assert run.adapter.fingerprint() and run.adapter.warm_key is None  # θ0, no θT held yet
    assert run.warmup == WARMUP_DEFAULTS["features"]
    assert (run.method, run.similarity, run.start) == ("auto", "max", "theta0") and run.chooses_method
    assert run.calibration is None and run.choice is None and run.warm is None
    assert run.pool.valid_rows == 120


def test_the_settings_reach_the_context(files, tmp_path):
    config = run_config(files, tmp_path, method="lossdrop", similarity="mean", start="theta1", warmup_steps=7)
    run = target_run(config, tmp_path / "spill")
    assert (run.method, run.similarity, run.start, run.warmup.steps) == ("lossdrop", "mean", "theta1", 7)
    assert not run.chooses_method


def a_calibration(steps: int) -> Calibration:
    config = dataclasses.replace(WARMUP_DEFAULTS["features"], steps=steps)
    return Calibration(
        config=config, table=[], folds=3, steps_trained=0, seconds=0.0, criterion="auc", reference_rows=0
    )


def test_the_calibration_replaces_the_warmup_and_the_keys_follow_it(run):
    keys = run.keys
    calibrated = run.calibrated(a_calibration(15))
    assert calibrated.warmup.steps == 15 and calibrated.calibration.config.steps == 15
    assert run.warmup.steps == WARMUP_DEFAULTS["features"].steps and run.calibration is None  # the old one stays
    assert calibrated.keys.warmup != keys.warmup and calibrated.keys.row_scores != keys.row_scores
    same = run.calibrated(a_calibration(WARMUP_DEFAULTS["features"].steps))
    assert same.keys == keys  # the same warmup: the same θT and row scores


def test_the_start_point_changes_the_row_scores_key_only(files, tmp_path, run):
    other = target_run(run_config(files, tmp_path / "b", start="theta1"), tmp_path / "spill-b")
    assert other.keys.warmup == run.keys.warmup and other.keys.row_scores != run.keys.row_scores


def test_the_choice_resolves_auto_once_and_the_warmup_records_theta_t(run):
    choice = MethodChoice("embedding", "mean", status="hit")
    chosen = run.chose(choice)
    assert (chosen.method, chosen.similarity, chosen.choice) == ("embedding", "mean", choice)
    assert not chosen.chooses_method and run.method == "auto"
    warm = Warmup(manifest={"config": {}}, status="miss")
    warmed = chosen.warmed(warm)
    assert warmed.warm is warm and warmed.method == "embedding" and chosen.warm is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        warmed.method = "lossdrop"
