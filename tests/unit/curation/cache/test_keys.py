"""Cache keys: the score's span changes the row scores' key, never θT's; the training span changes both."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from curation.cache.keys import cache_keys
from curation.models.base import WarmupConfig
from curation.rows import HASH_COLUMN

ROWS = pd.DataFrame({HASH_COLUMN: ["a", "b", "c"]})


def _model(loss_on: str = "all-assistant", score_on: str = "all-assistant"):
    settings = {"max_length": 128, "loss_on": loss_on, "score_on": score_on}
    return SimpleNamespace(fingerprint=lambda: "weights", loss_settings=lambda: settings)


def test_the_score_span_changes_the_row_scores_key_only_and_the_loss_span_both():
    base = cache_keys(_model(), ROWS, WarmupConfig())
    other_score = cache_keys(_model(score_on="conversation"), ROWS, WarmupConfig())
    other_loss = cache_keys(_model(loss_on="last-turn"), ROWS, WarmupConfig())
    assert other_score.warmup == base.warmup and other_score.row_scores != base.row_scores
    assert other_loss.warmup != base.warmup and other_loss.row_scores != base.row_scores


def test_theta0s_row_losses_have_one_key_for_every_target_and_another_per_reading_setting():
    code, math = pd.DataFrame({HASH_COLUMN: ["a", "b"]}), pd.DataFrame({HASH_COLUMN: ["c"]})
    first, second = cache_keys(_model(), code, WarmupConfig()), cache_keys(_model(), math, WarmupConfig(steps=7))
    assert first.warmup != second.warmup and first.row_scores != second.row_scores
    assert first.base_losses == second.base_losses  # another target, another warmup: the same θ0 losses
    assert cache_keys(_model(), code, WarmupConfig(), start="theta1").base_losses == first.base_losses
    assert cache_keys(_model(score_on="conversation"), code, WarmupConfig()).base_losses != first.base_losses
