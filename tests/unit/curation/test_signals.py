"""The signals as array functions: the normalized loss drop (with its guard at a loss of about 0),
rank percentiles and the rank blend."""

from __future__ import annotations

import numpy as np

from curation.signals import LOSS_EPS, blend_scores, rank_percentiles, score_formula


def test_the_drop_is_relative_to_the_start_loss_or_raw():
    base, warm = np.array([2.0, 1.0, 0.5]), np.array([1.0, 1.0, 1.0])
    np.testing.assert_allclose(score_formula(base, warm), [0.5, 0.0, -1.0])
    np.testing.assert_allclose(score_formula(base, warm, normalize=False), [1.0, 0.0, -0.5])
    assert score_formula(base, warm).dtype == np.float64


def test_a_start_loss_of_about_zero_divides_by_the_guard_not_by_zero():
    base, warm = np.array([0.0, 1e-9, LOSS_EPS * 10]), np.array([0.0, 0.0, 0.0])
    drop = score_formula(base, warm)
    assert np.isfinite(drop).all()
    np.testing.assert_allclose(drop, [0.0, 1e-9 / LOSS_EPS, 1.0])
    np.testing.assert_allclose(score_formula(np.array([1e-9]), np.array([0.0]), eps=1e-3), [1e-6])


def test_rank_percentiles_share_ties_and_put_nan_lowest():
    ranks = rank_percentiles(np.array([10.0, 30.0, 20.0, 20.0, np.nan]))
    np.testing.assert_allclose(ranks, [0.25, 1.0, 0.625, 0.625, 0.0])


def test_the_blend_weighs_the_two_methods_rank_percentiles():
    drop, similarity = np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(blend_scores(drop, similarity), [2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(blend_scores(drop, similarity, weight=1.0), rank_percentiles(drop))
    np.testing.assert_allclose(blend_scores(drop, similarity, weight=0.25), [0.5, 2 / 3, 5 / 6])
