"""Two targets' selections from one pool: the budget split 3:1, no row twice, each target's rows from
its own side of the pool, and two targets that want the same rows share them out in turn (top-k
selections, so the rankings are the scores' order)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_feature_rows
from prefect.logging import disable_run_logger
from targets import WEIGHTS, feature_files, run_config, target_run

from curation.run.joint import ScoredTarget, pick_for_targets
from curation.run.settings import ScoringSettings, SelectionSettings
from curation.scorers.base import ScoreRequest
from tasks.score import score


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The pool's first half (rows 0-59) looks like `validation`, its second half like `far`."""
    root = tmp_path_factory.mktemp("joint")
    found = feature_files(root)
    far = root / "far.parquet"
    rows = make_feature_rows(np.random.default_rng(5), WEIGHTS, 40, shift=3.0)
    rows.assign(label=np.arange(40) % 3).to_parquet(far)  # shifted this far, the rule gives one label
    return {**found, "far": str(far)}


def scored_target(files, tmp_path, name: str, validation: str, weight: float) -> ScoredTarget:
    config = run_config(
        files, tmp_path, validation=validation, method="embedding", budget=20, skip_finetune=True, selection="topk"
    )
    run = target_run(config, tmp_path / f"spill-{name}")
    with disable_run_logger():
        scored = score.fn(ScoreRequest(run, ScoringSettings.of(config), str(tmp_path / f"scores-{name}.parquet")))
    return ScoredTarget(run, scored, weight)


def test_the_budget_follows_the_weights_each_target_gets_its_own_rows_and_none_twice(files, tmp_path):
    targets = {
        "near": scored_target(files, tmp_path, "near", files["validation"], 3),
        "far": scored_target(files, tmp_path, "far", files["far"], 1),
    }
    settings = SelectionSettings.of(run_config(files, tmp_path, budget=20, skip_finetune=True, selection="topk"))
    choices = pick_for_targets(targets, settings)
    ids = {name: choice.chosen.frame["id"].tolist() for name, choice in choices.items()}
    assert (choices["near"].quota, choices["far"].quota) == (15, 5)
    assert len(ids["near"]) == 15 and len(ids["far"]) == 5 and not set(ids["near"]) & set(ids["far"])
    position = {name: [int(i.split("-")[1]) for i in found] for name, found in ids.items()}
    assert np.mean([p >= 60 for p in position["far"]]) > 0.8  # the far target's rows: the pool's far half
    for name, other in (("near", "far"), ("far", "near")):  # each: its own best rows the other did not take
        ranked = np.argsort(-targets[name].scored.scores, kind="stable").tolist()
        assert position[name] == [p for p in ranked if p not in position[other]][: len(position[name])]
    assert choices["near"].chosen.frame["rank"].tolist() == list(range(1, 16))
    again = pick_for_targets(targets, settings)
    assert {name: c.chosen.frame["id"].tolist() for name, c in again.items()} == ids  # deterministic


def test_two_targets_wanting_the_same_rows_take_them_in_turn(files, tmp_path):
    one = scored_target(files, tmp_path, "one", files["validation"], 1)
    targets = {"one": one, "two": ScoredTarget(one.run, one.scored, 1)}
    settings = SelectionSettings.of(run_config(files, tmp_path, budget=10, skip_finetune=True, selection="topk"))
    choices = pick_for_targets(targets, settings)
    alone = np.argsort(-one.scored.scores, kind="stable")[:10]
    first, second = (choices[name].chosen.positions.tolist() for name in ("one", "two"))
    assert sorted(first + second) == sorted(alone.tolist())  # together, the single target's top 10
    assert first == alone[0::2].tolist() and second == alone[1::2].tolist()
    assert choices["one"].lost == 2 and choices["two"].lost == 3  # of each one's top 5, what the other took
