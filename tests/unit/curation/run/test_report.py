"""report.json assembled from the options, the run context and what the stages returned: the counts,
hashes and cache use of this run, a scorer's own warmup accounted in place of θT's, the calibration
without its per-row drops, and the method choice's warning only when nothing separates."""

from __future__ import annotations

import dataclasses

import pytest
from targets import feature_files, run_config, scored_and_chosen, target_run

from curation.calibration import Calibration
from curation.method_choice import NO_SEPARATION, MethodChoice
from curation.models.base import WarmupConfig
from curation.report import Report
from curation.run.report import Curated, build_report, calibration_use, method_choice_use
from curation.scorers.base import OwnWarmup

TIMINGS = {"ingest": 0.1, "score": 2.0, "select": 0.1}


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    config = run_config(feature_files(root), root, method="random", skip_finetune=True, budget=12)
    run = target_run(config, root / "spill")
    return config, run, *scored_and_chosen(config, run, root / "scores.parquet")


def test_the_report_holds_this_runs_counts_hashes_and_cache_use(staged):
    config, run, scored, chosen = staged
    report = build_report(config, run, Curated(scored, chosen, None), TIMINGS)
    assert isinstance(report, Report) and report.config == config and report.evaluation is None
    assert (report.hashes.validation, report.hashes.pool) == (run.target.validation_hash, run.pool.pool_hash)
    assert (report.hashes.warmup_key, report.hashes.row_score_key) == (run.keys.warmup, run.keys.row_scores)
    counts = report.counts
    assert (counts.rows_read, counts.valid, counts.quarantined, counts.selected) == (120, 120, 0, 12)
    assert (counts.validation_rows, counts.warmup_rows, counts.eval_rows) == (40, 30, 10)
    assert (report.effective.method, report.effective.selection, report.effective.finetune) == ("random", "topk", None)
    assert (report.cache.warmup, report.cache.calibration, report.cache.pool) == ("not-used", "not-used", "miss")
    assert (report.cost.warmup_steps, report.cost.calibration_steps, report.cost.score_seconds) == (0, 0, 2.0)
    assert report.timings == TIMINGS and report.scoring.shards == len(run.pool.valid_parts)
    assert sum(report.selection_labels.values()) == 12


def test_a_scorers_own_warmup_is_reported_in_place_of_theta_t_and_taken_out_of_the_scoring_time(staged):
    config, run, scored, chosen = staged
    own = OwnWarmup(status="miss", steps=12, seconds=0.5, config={"sample": 40})
    report = build_report(config, run, Curated(dataclasses.replace(scored, own_warmup=own), chosen, None), TIMINGS)
    assert (report.timings["warmup"], report.timings["score"], report.cost.score_seconds) == (0.5, 1.5, 1.5)
    assert (report.cache.warmup, report.cost.warmup_steps, report.effective.gradcos) == ("miss", 12, {"sample": 40})


def test_the_calibration_is_reported_without_its_per_row_drops():
    calibration = Calibration(
        config=WarmupConfig(steps=30), table=[{"steps": 30, "chosen": True}], folds=3, steps_trained=90,
        seconds=1.0, criterion="auc", reference_rows=64, grid="features",
        fold_scores=[{"held": [0.1], "reference": [0.2]}], status="hit", key="k",
    )  # fmt: skip
    used = calibration_use(calibration)
    assert (used.status, used.key, used.chosen, used.grid) == ("hit", "k", WarmupConfig(steps=30).as_dict(), "features")
    assert "fold_scores" not in used.model_dump() and calibration_use(None) is None


def test_the_method_choice_warns_only_when_no_candidate_separates():
    def row(method: str, specificity: float, chosen: bool) -> dict:
        return {"method": method, "similarity": "-", "specificity": specificity, "spread": 0.0, "chosen": chosen}

    separating = MethodChoice("lossdrop", "max", [row("lossdrop", 0.3, True)], folds=3, forward_passes=70)
    used = method_choice_use(separating)
    assert (used.warning, used.outranks_percent, used.forward_passes) == (None, 80.0, 70)
    near = method_choice_use(dataclasses.replace(separating, candidates=[row("lossdrop", 0.05, True)], status="hit"))
    assert near.warning == NO_SEPARATION and not near.separates and near.forward_passes == 0  # a hit cost nothing
    skipped = method_choice_use(MethodChoice("lossdrop", "max", status="skipped"))
    assert skipped.warning is None and skipped.outranks_percent is None
    assert method_choice_use(None) is None
