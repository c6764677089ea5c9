"""The random baseline: one uniform score per row, seeded, no losses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curation.scorers.uniform import write_random_scores


def test_random_scores_are_seeded_uniform_draws_without_losses(tmp_path):
    ids = np.array([f"r{i}" for i in range(500)])
    score = write_random_scores(ids, seed=1, path=str(tmp_path / "s.parquet"))
    table = pd.read_parquet(tmp_path / "s.parquet")
    assert table["id"].tolist() == ids.tolist() and np.array_equal(table["score"], score)
    assert table["loss_base"].isna().all() and 0.4 < score.mean() < 0.6
    assert np.array_equal(score, write_random_scores(ids, seed=1, path=str(tmp_path / "t.parquet")))
