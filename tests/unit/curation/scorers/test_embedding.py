"""embedding: each pool row's max or mean cosine similarity to the validation rows over θ0's
embeddings (a classifier's: the features), streamed into scores.parquet in pool order."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from targets import feature_files, run_config, target_run

from curation.run.settings import ScoringSettings
from curation.scorers.base import ScoreRequest, unit_rows
from curation.scorers.embedding import Embedding, similarity_scores


def test_similarity_is_the_max_or_mean_cosine_to_the_validation_rows():
    validation = unit_rows(np.array([[1.0, 0.0], [0.0, 1.0]]))
    pool = np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
    np.testing.assert_allclose(similarity_scores(pool, validation, "max"), [1.0, np.sqrt(0.5), 0.0], rtol=1e-6)
    np.testing.assert_allclose(similarity_scores(pool, validation, "mean"), [0.5, np.sqrt(0.5), -0.5], rtol=1e-6)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("embedding")
    return target_run(run_config(feature_files(root), root, method="embedding"), root / "spill")


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_the_scorer_writes_every_valid_pool_row_in_pool_order_with_no_losses(run, tmp_path, reduce):
    path = str(tmp_path / "scores.parquet")
    request = ScoreRequest(
        dataclasses.replace(run, similarity=reduce), ScoringSettings(str(tmp_path), 0, 0.5, 16), path
    )
    scored = Embedding().score(request)
    written = pd.read_parquet(path)
    pool = run.pool.load_valid()
    assert written["id"].tolist() == pool["id"].tolist() == [f"row-{i:04d}" for i in range(120)]
    assert written[["loss_base", "loss_warm"]].isna().all().all()
    features = np.stack(pool["features"].to_numpy())
    reference = unit_rows(np.stack(run.target.warm_rows["features"].to_numpy()))
    np.testing.assert_allclose(written["score"], similarity_scores(features, reference, reduce), rtol=1e-5)
    np.testing.assert_allclose(scored.scores, written["score"])
    assert scored.forward_passes == 120 + len(run.target.warm_rows)
