"""The held-out judges: the warmup calibrated on folds of the validation set against the pool's pinned
reference sample, found again for any later pool of the target; `--method auto`'s choice read from
it; both skipped when the validation set is too small to fold."""

from __future__ import annotations

import pandas as pd
import pytest
from targets import feature_files, run_config, target_run

from curation.grids import GRIDS
from curation.run.judge import find_method, find_warmup, reference_for
from curation.run.settings import WarmupSettings


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return feature_files(tmp_path_factory.mktemp("judge"))


def judged(files, tmp_path, **options):
    config = run_config(files, tmp_path, **options)
    return target_run(config, tmp_path / f"spill-{len(list(tmp_path.glob('spill-*')))}"), WarmupSettings.of(config)


def test_the_calibration_judges_the_kinds_grid_once_and_any_later_pool_finds_it(files, tmp_path):
    run, settings = judged(files, tmp_path, calibration_folds=2)
    found = find_warmup(run, settings)
    grid = GRIDS["features"]
    assert (found.status, found.grid, found.folds, found.criterion) == ("miss", "features", 2, "auc")
    assert len(found.table) <= len(grid.arms) * len(grid.steps) and sum(row["chosen"] for row in found.table) == 1
    assert (found.config.scope, found.config.lr) in grid.arms and found.config.steps in grid.steps
    assert 0 < found.steps_trained <= max(grid.steps) * len(grid.arms) * 2 and found.key  # raced: fewer at most
    assert len(found.fold_similarities) == 2  # `auto`: embedding judged first, on the same folds, as the rival
    assert found.reference_rows == run.pool.valid_rows == 120  # all of them: fewer than the 128 asked
    again = find_warmup(run, settings)
    assert (again.status, again.key, again.table) == ("hit", found.key, found.table)
    half = tmp_path / "pool-half.parquet"
    pd.read_parquet(files["pool"]).iloc[:60].to_parquet(half)  # another pool of the same target
    other, _ = judged({**files, "pool": str(half)}, tmp_path)
    assert reference_for(other, settings)[1] == reference_for(run, settings)[1]  # the pinned sample
    assert find_warmup(other, settings).status == "hit"


def test_a_fixed_warmup_is_judged_alone(files, tmp_path):
    run, settings = judged(files, tmp_path, warmup_steps=20)
    assert not settings.calibrates
    found = find_warmup(run, settings)
    assert found.grid == "fixed" and len(found.table) == 1 and found.config == run.warmup
    assert found.config.steps == 20 and found.fold_scores  # --method auto reads its held-out drops


def test_too_few_validation_rows_skip_both_judges(tmp_path):
    small = feature_files(tmp_path / "small", validation=7)
    run, settings = judged({**small}, tmp_path, test=small["test"])  # 7 warmup rows: one fold of 4
    found = find_warmup(run, settings)
    assert (found.status, found.folds, found.config) == ("skipped", 1, run.warmup)
    assert not (tmp_path / "cache" / "calibration").exists()
    choice = find_method(run.calibrated(found), settings)
    assert (choice.method, choice.status, choice.similarity) == ("lossdrop", "skipped", "max")
    assert find_method(run, settings).status == "skipped"  # no calibration at all


def test_the_method_is_chosen_on_the_calibrations_folds_and_cached_beside_it(files, tmp_path):
    run, settings = judged(files, tmp_path, similarity="mean", warmup_steps=20)  # one candidate: quick to judge
    calibrated = run.calibrated(find_warmup(run, settings))
    choice = find_method(calibrated, settings)
    assert choice.status == "miss" and choice.method in ("lossdrop", "embedding", "blend")
    assert {(row["method"], row["similarity"]) for row in choice.candidates} == {
        ("lossdrop", "-"), ("embedding", "max"), ("embedding", "mean"), ("blend", "max"), ("blend", "mean")
    }  # fmt: skip
    # embedded with the calibration (its rival) by this run: the pass counts here, once
    assert choice.folds == 3 and choice.forward_passes == len(run.target.warm_rows) + 120
    again = find_method(calibrated, settings)
    assert (again.status, again.method, again.similarity) == ("hit", choice.method, choice.similarity)


def test_a_calibration_that_does_not_race_embedding_leaves_the_choice_its_own_pass(files, tmp_path):
    """The drop criterion is not in auc units: no rival, and the choice embeds the rows itself."""
    run, settings = judged(files, tmp_path, warmup_steps=20, calibration_criterion="drop")
    calibrated = run.calibrated(find_warmup(run, settings))
    assert calibrated.calibration.fold_similarities == [] and not calibrated.calibration.ruled_out
    choice = find_method(calibrated, settings)
    assert choice.forward_passes == len(run.target.warm_rows) + 120 and len(choice.candidates) == 5
