"""blend: rank percentiles of the loss drop and of embedding similarity, averaged."""

from __future__ import annotations

import numpy as np

from curation.signals import blend_scores, rank_percentiles


def test_rank_percentiles_share_ties_and_put_nan_last():
    found = rank_percentiles(np.array([0.3, -2.0, 0.3, np.nan]))
    assert np.allclose(found, [2.5 / 3, 1 / 3, 2.5 / 3, 0.0])  # among the 3 scored rows; the unscored one last


def test_the_blend_depends_on_ranks_only_and_favours_rows_both_rank_high():
    drop = np.array([0.9, 0.1, 0.5, 0.4])
    similarity = np.array([0.2, 0.99, 0.8, 0.7])
    blended = blend_scores(drop, similarity)
    assert np.allclose(blended, blend_scores(drop * 1000 - 5, np.exp(similarity)))  # monotone maps change nothing
    assert int(np.argmax(blended)) == 2  # second on both beats first on one and last on the other
    assert np.allclose(blend_scores(drop, similarity, weight=1.0), rank_percentiles(drop))
