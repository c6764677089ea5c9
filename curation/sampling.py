"""Seeded uniform samples of row positions (the random control, gradcos's pool sample)."""

from __future__ import annotations

import numpy as np


def random_positions(n: int, k: int, seed: int) -> np.ndarray:
    """k positions out of n drawn uniformly without replacement, sorted."""
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
