"""The score task: the run's method scores every valid pool row into scores.parquet, and the
scores remember where they were written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prefect.logging import disable_run_logger
from targets import feature_files, run_config, target_run

from curation.run.settings import ScoringSettings
from curation.scorers.base import ScoreRequest
from tasks.score import score


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    return target_run(run_config(feature_files(root), root, method="random"), root / "spill")


def scored(run, tmp_path, seed: int):
    path = str(tmp_path / f"scores-{seed}.parquet")
    with disable_run_logger():
        return score.fn(ScoreRequest(run, ScoringSettings(str(tmp_path), seed, 0.5, 16), path)), path


def test_the_runs_method_scores_every_valid_row_into_scores_parquet(run, tmp_path):
    found, path = scored(run, tmp_path, seed=3)
    assert found.path == path
    written = pd.read_parquet(path)
    assert written["id"].tolist() == [f"row-{i:04d}" for i in range(120)]
    np.testing.assert_array_equal(written["score"], found.scores)
    np.testing.assert_array_equal(found.scores, np.random.default_rng(3).random(120))  # random: uniform draws
    assert not np.array_equal(scored(run, tmp_path, seed=4)[0].scores, found.scores)
