"""random: uniform random scores, so the top-k is a uniform random subset (the baseline every
method must beat). No model pass at all."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from curation.scorers.base import Scored, Scorer, ScoreRequest, lossless_scores


def write_random_scores(ids: np.ndarray, seed: int, path: str) -> np.ndarray:
    """A random ranking: scores are uniform draws."""
    score = np.random.default_rng(seed).random(len(ids))
    pq.write_table(lossless_scores(ids, score), path)
    return score


class RandomScores(Scorer):
    random_ranking = True

    def score(self, request: ScoreRequest) -> Scored:
        return Scored(write_random_scores(request.pool.column("id"), request.settings.seed, request.path))
