"""report.json, typed: a report survives its JSON round trip whole, refuses unknown or changed
fields, and says how θT was trained and which method scored."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from reports import a_report

from curation.report import CalibrationUse, Report


def test_a_report_comes_back_whole_from_its_json():
    report = a_report()
    text = json.dumps(report.as_json())
    back = Report.model_validate(json.loads(text))
    assert back == report
    assert back.config.budget == 50 and back.evaluation.lift == 0.25 and back.cache.damaged.row_scores == 0
    assert json.loads(text)["config"]["model"] == "linear"  # the options as report.json holds them


def test_a_report_without_the_optional_sections_round_trips_too():
    report = a_report(calibration=None, method_choice=None, evaluation=None, selection_labels=None)
    assert Report.model_validate(json.loads(json.dumps(report.as_json()))) == report


def test_a_report_refuses_unknown_fields_and_cannot_be_changed():
    fields = a_report().as_json()
    with pytest.raises(ValidationError):
        Report.model_validate({**fields, "counts": {**fields["counts"], "rows_kept": 3}})
    with pytest.raises(ValidationError):
        Report.model_validate({k: v for k, v in fields.items() if k != "cost"})
    with pytest.raises(ValidationError):
        a_report().counts.valid = 1


def test_the_warmup_in_words_says_how_it_was_chosen():
    calibrated = a_report()
    assert calibrated.warmup_words() == "all weights, lr 0.05, 60 steps (calibrated on 3 folds: cache miss)"
    assert a_report(calibration=None).warmup_words() == "all weights, lr 0.05, 60 steps (fixed)"
    skipped = calibrated.calibration.model_copy(update={"status": "skipped"})
    assert a_report(calibration=skipped).warmup_words().endswith("(not calibrated: too few validation rows)")
    judged = CalibrationUse(**{**calibrated.calibration.model_dump(), "grid": "fixed", "status": "hit"})
    assert a_report(calibration=judged).warmup_words().endswith("(fixed; judged on 3 folds: cache hit)")
    table = [{**row, "folds": 1} for row in calibrated.calibration.table]
    ruled_out = calibrated.calibration.model_copy(update={"ruled_out": True, "table": table})
    assert (
        a_report(calibration=ruled_out)
        .warmup_words()
        .endswith("(the loss drop ruled out by embedding after 1 of 3 folds)")
    )


def test_the_method_in_words_says_whether_it_was_forced_or_chosen():
    assert a_report(method_choice=None).method_words() == "method: lossdrop (forced with --method)"
    chosen = a_report().method_words()
    assert chosen.startswith("method: lossdrop (auto, judged on 3 folds: cache miss)")
    assert "outrank 80% of pool rows" in chosen and "\n" not in chosen
