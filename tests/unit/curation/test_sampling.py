"""The random control's sample: seeded, uniform, without replacement, sorted."""

from __future__ import annotations

import numpy as np

from curation.sampling import random_positions


def test_a_seeded_sample_is_repeatable_distinct_and_sorted():
    first = random_positions(1000, 50, seed=3)
    assert np.array_equal(first, random_positions(1000, 50, seed=3))
    assert not np.array_equal(first, random_positions(1000, 50, seed=4))
    assert len(set(first)) == 50 and (np.diff(first) > 0).all() and first.max() < 1000
