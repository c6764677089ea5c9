"""The evaluate task: both finetunes on the target's evaluation rows, and the lift over the random
control in the direction the metric improves."""

from __future__ import annotations

import pytest
from prefect.logging import disable_run_logger
from targets import feature_files, run_config, target_run

from curation.models.base import FinetuneConfig
from curation.models.causal_lm import CausalLMAdapter
from curation.models.classifier import ClassifierAdapter
from tasks.evaluate import evaluate, lift


def test_the_lift_is_positive_when_the_selection_did_better_whichever_way_the_metric_goes():
    assert lift(ClassifierAdapter("linear", 2, 2), {"accuracy": 0.75}, {"accuracy": 0.5}) == 0.25
    assert lift(CausalLMAdapter, {"loss": 1.0}, {"loss": 1.5}) == 0.5  # a loss: lower is better
    assert lift(CausalLMAdapter, {"loss": 2.0}, {"loss": 1.5}) == -0.5


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    return target_run(run_config(feature_files(root), root), root / "spill")


def test_the_evaluation_compares_both_models_on_the_evaluation_rows(run):
    adapter = run.adapter
    selected = adapter.finetune(run.target.warm_rows, FinetuneConfig(epochs=20, lr=0.05), seed=0, name="selection")
    control = adapter.base  # θ0 itself: the finetune on the selection must do better
    config = FinetuneConfig(epochs=20, lr=0.05)
    with disable_run_logger():
        evaluation = evaluate.fn(run, selected, control, config)
    assert (evaluation.metric, evaluation.higher_is_better, evaluation.eval_set) == (
        "accuracy",
        True,
        "validation-holdout",
    )
    assert evaluation.rows == len(run.target.eval_rows) == 10 and evaluation.finetune == config.as_dict()
    assert evaluation.selection == adapter.evaluate(selected, run.target.eval_rows)
    assert evaluation.lift == evaluation.selection["accuracy"] - evaluation.random["accuracy"] > 0
