"""The score formula and the endpoint losses it is built on, checked against hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from curation.models.base import WarmupConfig
from curation.models.causal_lm import CausalLMAdapter
from curation.models.classifier import ClassifierAdapter
from curation.scorers.lossdrop import score_rows
from curation.signals import LOSS_EPS, score_formula


def test_normalized_drop_matches_hand_computation():
    base = np.array([2.0, 1.0, 0.5, 4.0])
    warm = np.array([1.0, 1.5, 0.5, 1.0])
    # (2-1)/2, (1-1.5)/1, (0.5-0.5)/0.5, (4-1)/4
    assert score_formula(base, warm) == pytest.approx([0.5, -0.5, 0.0, 0.75])
    assert score_formula(base, warm, normalize=False) == pytest.approx([1.0, -0.5, 0.0, 3.0])


def test_near_zero_base_loss_is_guarded():
    score = score_formula(np.array([0.0, 1e-9]), np.array([0.0, 0.0]))
    assert np.isfinite(score).all()
    assert score[1] == pytest.approx(1e-9 / LOSS_EPS)


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_classifier_endpoint_losses_are_cross_entropies():
    adapter = ClassifierAdapter("linear", feature_dim=3, num_classes=2)
    adapter.warm = torch.nn.Linear(3, 2)
    with torch.no_grad():
        adapter.base.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        adapter.base.bias.zero_()
        adapter.warm.weight.copy_(torch.tensor([[2.0, 0.0, 0.0], [0.0, -1.0, 0.0]]))
        adapter.warm.bias.zero_()
    x = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]], dtype=np.float32)
    y = np.array([0, 1])
    rows = pd.DataFrame({"id": ["a", "b"], "features": list(x), "label": y})
    expected_base = -_log_softmax(x @ np.array([[1, 0], [0, 1], [0, 0]]))[[0, 1], y]
    expected_warm = -_log_softmax(x @ np.array([[2, 0], [0, -1], [0, 0]]))[[0, 1], y]

    scores = score_rows(adapter, rows)
    assert scores["loss_base"].to_numpy() == pytest.approx(expected_base, rel=1e-5)
    assert scores["loss_warm"].to_numpy() == pytest.approx(expected_warm, rel=1e-5)
    assert scores["score"].to_numpy() == pytest.approx((expected_base - expected_warm) / expected_base, rel=1e-4)


def test_causal_lm_loss_covers_response_tokens_only(tiny_lm):
    adapter = CausalLMAdapter(tiny_lm)
    rows = pd.DataFrame({"prompt": ["Note 1: ", ""], "response": ["The server answers.", "A prime."]})
    encoded = adapter.encode(rows)
    losses = []
    for ids, labels in encoded:
        with torch.no_grad():
            logits = adapter.base(input_ids=torch.tensor([ids])).logits[0]
        logp = torch.log_softmax(logits, -1).numpy()
        # token t is predicted from position t-1; prompt and start token carry no loss
        terms = [-logp[t - 1, ids[t]] for t in range(1, len(ids)) if labels[t] != -100]
        losses.append(np.mean(terms))
        prompt_len = len(adapter.tokenizer(rows["prompt"][len(losses) - 1], add_special_tokens=False)["input_ids"])
        assert len(terms) == len(ids) - 1 - prompt_len
    adapter.warmup(
        pd.DataFrame({"prompt": ["x "] * 4, "response": ["The server answers."] * 4}),
        WarmupConfig(steps=3, batch_size=2),
    )
    base, warm = adapter.endpoint_losses(rows, batch_size=2)
    assert base == pytest.approx(losses, rel=1e-4)
    assert not np.allclose(base, warm)  # the adapter changed θT, the disabled adapter is θ0


def test_targets_scoring_from_theta0_share_its_row_losses_each_adding_one_pass(tiny_lm, tmp_path):
    """Two targets (two θTs) score one shard: θ0's losses are computed once, in the shared θ0 row cache,
    and both targets' losses are, bit for bit, those of the two passes taken together."""
    from curation.cache.keys import shard_key
    from curation.cache.row_scores import RowScoreCache
    from curation.rows import HASH_COLUMN
    from curation.scorers.lossdrop import ShardJob, score_part

    rows = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "prompt": ["Note: ", "", "Q: ", "", "Say: "],
            "response": ["The server answers.", "A prime.", "Seven.", "Blue sky today.", "Hello there."],
            HASH_COLUMN: ["h1", "h2", "h3", "h4", "h5"],
        }
    )
    part = tmp_path / "part-0.parquet"
    rows.to_parquet(part)
    targets = {}
    for name, text in (("code", "def f(): return 1"), ("math", "Two plus two is four.")):
        adapter = CausalLMAdapter(tiny_lm)
        warm_rows = pd.DataFrame({"prompt": ["x "] * 4, "response": [text] * 4})
        adapter.warmup(warm_rows, WarmupConfig(steps=3, batch_size=2))
        targets[name] = adapter

    def job(name: str, start: str = "theta0") -> ShardJob:
        return ShardJob(None, str(tmp_path / "cache"), name, f"rows-{name}-{start}", str(part), 0, start, "theta0")

    assert score_part(targets["code"], job("code"), batch_size=2) == (5, 0, 0, 5)
    assert score_part(targets["math"], job("math"), batch_size=2) == (5, 0, 0, 0)  # θ0's pass is shared
    assert score_part(targets["math"], job("math", "theta1"), batch_size=2) == (5, 0, 0, 5)  # θ1 is the target's
    for name, adapter in targets.items():
        row_cache = RowScoreCache(str(tmp_path / "cache"), f"rows-{name}-theta0")
        cached, _ = row_cache.read_shard(shard_key(rows[HASH_COLUMN]))
        base, warm = adapter.endpoint_losses(rows, batch_size=2)
        assert np.array_equal(cached["loss_base"].to_numpy(), base)
        assert np.array_equal(cached["loss_warm"].to_numpy(), warm)
