"""The select task: the budget's best-scored rows, best first, and a random control of the same size
(none without a finetune to follow), with the selected rows' labels counted (the selection's rules:
tests/unit/curation/test_selection.py)."""

from __future__ import annotations

import numpy as np
import pytest
from targets import feature_files, run_config, scored_and_chosen, target_run


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return feature_files(tmp_path_factory.mktemp("select"))


def test_the_selection_is_the_best_scored_rows_and_a_control_of_the_same_size(files, tmp_path):
    config = run_config(files, tmp_path, method="random", budget=15)
    run = target_run(config, tmp_path / "spill")
    scored, chosen = scored_and_chosen(config, run, tmp_path / "scores.parquet")
    assert chosen.strategy == "topk" and len(chosen.positions) == len(chosen.rows) == len(chosen.control) == 15
    assert chosen.positions.tolist() == np.argsort(-scored.scores)[:15].tolist()
    assert chosen.frame["id"].tolist() == [f"row-{i:04d}" for i in chosen.positions]
    assert chosen.frame["score"].tolist() == sorted(scored.scores, reverse=True)[:15]
    assert chosen.rows["id"].tolist() == chosen.frame["id"].tolist()
    assert sum(chosen.labels.values()) == 15 and set(chosen.labels) <= {"0", "1", "2"}


def test_no_control_is_drawn_when_no_finetune_follows(files, tmp_path):
    config = run_config(files, tmp_path, method="random", budget=0.25, skip_finetune=True)
    run = target_run(config, tmp_path / "spill")
    _, chosen = scored_and_chosen(config, run, tmp_path / "scores.parquet")
    assert len(chosen.positions) == 30 and chosen.control.empty  # a quarter of the 120 valid rows
