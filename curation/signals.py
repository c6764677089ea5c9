"""The signals the scorers compute and the held-out judges rank by, as plain array functions: the
endpoint loss drop (the seed paper's score) and the rank blend of the loss drop with embedding
similarity. The scorers (`curation.scorers`), the calibration and `--method auto` share them."""

from __future__ import annotations

import numpy as np
import pandas as pd

LOSS_EPS = 1e-6  # rows θ0 already predicts perfectly have no room to improve: no division by ~0
WEIGHT = 0.5  # the loss drop's share of the blend


def score_formula(
    loss_base: np.ndarray, loss_warm: np.ndarray, normalize: bool = True, eps: float = LOSS_EPS
) -> np.ndarray:
    """Loss drop from the start point to θT; relative to the start's loss unless `normalize` is False."""
    drop = np.asarray(loss_base, dtype=np.float64) - np.asarray(loss_warm, dtype=np.float64)
    return drop / np.maximum(loss_base, eps) if normalize else drop


def rank_percentiles(scores: np.ndarray) -> np.ndarray:
    """Each score's rank as a share of the rows (ties share their mean rank); NaN ranks lowest."""
    ranks = pd.Series(np.asarray(scores, dtype=np.float64)).rank(method="average", pct=True)
    return ranks.fillna(0.0).to_numpy()


def blend_scores(drop: np.ndarray, similarity: np.ndarray, weight: float = WEIGHT) -> np.ndarray:
    """The weighted mean of the two methods' rank percentiles."""
    return weight * rank_percentiles(drop) + (1 - weight) * rank_percentiles(similarity)
