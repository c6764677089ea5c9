"""The finetune task: θ0 trained on the given rows with the kind's default finetune (or
`--finetune-epochs`), the same model for the same seed."""

from __future__ import annotations

import pytest
import torch
from targets import feature_files, run_config, target_run

from curation.models.base import FINETUNE_DEFAULTS
from curation.run.settings import FinetuneSettings
from tasks.finetune import finetune, finetune_config, train_on


def test_the_finetune_is_the_kinds_default_with_the_epochs_asked():
    assert finetune_config("features", FinetuneSettings(None, 0)) == FINETUNE_DEFAULTS["features"]
    text = finetune_config("text", FinetuneSettings(5, 0))
    assert text.epochs == 5 and (text.lr, text.batch_size) == (
        FINETUNE_DEFAULTS["text"].lr,
        FINETUNE_DEFAULTS["text"].batch_size,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    return target_run(run_config(feature_files(root), root), root / "spill")


def test_the_model_trained_on_the_target_rows_beats_theta0_on_the_held_out_rows(run):
    model = finetune.fn(run, run.target.warm_rows, FinetuneSettings(None, 3), "selection")
    held = run.target.eval_rows
    assert run.adapter.evaluate(model, held)["accuracy"] > run.adapter.evaluate(run.adapter.base, held)["accuracy"]
    again = finetune.fn(run, run.target.warm_rows, FinetuneSettings(None, 3), "random")
    assert torch.equal(again.weight, model.weight)
    other = train_on(run.adapter, run.target.warm_rows, finetune_config("features", FinetuneSettings(1, 4)), 4, "x")
    assert not torch.equal(other.weight, model.weight)
