"""`--method blend` through the flow: its scores are the blend of what `lossdrop` and `embedding`
score on the same pool, and the loss drop it needs comes from the row-score cache a lossdrop run filled."""

from __future__ import annotations

import numpy as np
import pandas as pd
from runs import curate_run

from curation.signals import blend_scores


def test_blend_scores_are_the_rank_blend_of_lossdrop_and_embedding(text_task, tiny_lm, prefect_api_url, tmp_path):
    scores = {}
    for method in ("lossdrop", "embedding", "blend"):
        report = curate_run(
            pool=str(text_task["pool"]), validation=str(text_task["validation"]), model=tiny_lm, budget=20,
            out=str(tmp_path / method), cache=str(tmp_path / "cache"), method=method, warmup="fixed",
            warmup_steps=10, skip_finetune=True,
        )  # fmt: skip
        scores[method] = pd.read_parquet(tmp_path / method / "scores.parquet")
    expected = blend_scores(scores["lossdrop"]["score"].to_numpy(), scores["embedding"]["score"].to_numpy())
    assert scores["blend"]["id"].tolist() == scores["lossdrop"]["id"].tolist()
    assert np.allclose(scores["blend"]["score"], expected)
    assert np.allclose(scores["blend"]["loss_warm"], scores["lossdrop"]["loss_warm"])
    assert report["cache"]["rows_reused"] == 90 and report["cache"]["rows_scored"] == 0  # the drop was cached
    # embedding's θ0 pass over the pool and the warmup's validation rows; no loss drop computed anew
    assert report["cost"]["scoring_forward_passes"] == 90 + report["counts"]["warmup_rows"]
