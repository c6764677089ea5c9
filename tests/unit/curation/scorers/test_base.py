"""The scorer interface's pieces: vectors scaled to unit length (dot products are cosines), the
scores table of a method that computes no losses, and the request that hands a scorer the run."""

from __future__ import annotations

import numpy as np
import pytest
from targets import feature_files, run_config, target_run

from curation.run.settings import ScoringSettings
from curation.scorers.base import SCORES_SCHEMA, ScoreRequest, lossless_scores, unit_rows


def test_unit_rows_have_length_one_along_the_last_axis_and_zero_rows_stay_zero():
    vectors = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0], [-2.0, 0.0]]))
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]], rtol=1e-6)
    stacked = unit_rows(np.ones((2, 3, 4)))
    np.testing.assert_allclose(np.linalg.norm(stacked, axis=-1), np.ones((2, 3)), rtol=1e-6)


def test_a_lossless_scores_table_has_the_scores_schema_string_ids_and_nan_losses():
    table = lossless_scores(np.array([7, 8]), np.array([0.5, -1.0]))
    assert table.schema == SCORES_SCHEMA
    assert table.column("id").to_pylist() == ["7", "8"] and table.column("score").to_pylist() == [0.5, -1.0]
    assert np.isnan(table.column("loss_base").to_numpy()).all() and np.isnan(table.column("loss_warm").to_numpy()).all()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("request")
    return target_run(run_config(feature_files(root), root, warmup_steps=5), root / "spill")


def test_a_request_hands_the_scorer_the_runs_model_pool_target_warmup_and_keys(run, tmp_path):
    request = ScoreRequest(run, ScoringSettings(str(tmp_path), 0, 0.5, 16), str(tmp_path / "scores.parquet"))
    assert request.adapter is run.adapter and request.pool is run.pool and request.target is run.target
    assert request.warmup == run.warmup and request.warmup.steps == 5
    assert request.keys == run.keys and request.spec == run.spec and request.engine is None
