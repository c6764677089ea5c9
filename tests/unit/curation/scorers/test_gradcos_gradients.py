"""gradcos's gradients (LESS-style): a seeded random projection that keeps angles, per-row gradients
that are the true ones (Adam-preconditioned for pool rows), a trajectory with a checkpoint per epoch
and a decaying learning rate, stored sealed, and scores that weigh each checkpoint's cosine by it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from curation.cache.integrity import Damaged
from curation.models.base import WarmupConfig
from curation.models.classifier import ClassifierAdapter
from curation.scorers.gradcos_gradients import (
    Along,
    Checkpoint,
    Trainable,
    gradcos_scores,
    load_trajectory,
    project,
    projected_gradients,
    save_trajectory,
    train_trajectory,
)


def test_projection_is_a_fixed_linear_map_that_keeps_angles_roughly():
    rng = np.random.default_rng(0)
    a, b = (torch.from_numpy(rng.normal(size=(3, 5000))).float() for _ in range(2))  # wider than a block
    pa, pb = project(a, 2048, seed=0), project(b, 2048, seed=0)
    torch.testing.assert_close(project(a + b, 2048, seed=0), pa + pb, rtol=1e-4, atol=1e-3)
    assert torch.equal(project(a, 2048, seed=0), pa)  # regenerated from the seed: the same matrix
    original = F.cosine_similarity(a[:, None], a[None], dim=-1)
    projected = F.cosine_similarity(pa[:, None], pa[None], dim=-1)
    assert (original - projected).abs().max() < 0.1  # Johnson-Lindenstrauss at dim 2048
    assert ((pa.norm(dim=1) / a.norm(dim=1)) - 1).abs().max() < 0.1


def test_scores_sum_the_cosines_over_checkpoints_weighted_by_learning_rate():
    features = torch.tensor([[[1.0, 0.0], [0.0, 3.0]], [[0.0, 2.0], [1.0, 1.0]]])  # [rows, checkpoints, dim]
    reference = torch.tensor([[2.0, 0.0], [0.0, 1.0]])  # the validation's mean gradient per checkpoint
    scores = gradcos_scores(features, reference, lrs=[0.5, 0.25])
    np.testing.assert_allclose(scores, [0.5 * 1 + 0.25 * 1, 0.5 * 0 + 0.25 * np.sqrt(0.5)], rtol=1e-6)


def _rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"features": list(rng.normal(size=(n, 5)).astype(np.float32)), "label": rng.integers(0, 3, n)})


def test_per_row_gradients_are_the_true_gradients_projected_and_adam_preconditioned():
    """For logistic regression the per-row gradient is known in closed form: (p − onehot) ⊗ [x, 1]."""
    adapter = ClassifierAdapter("linear", 5, 3)
    params = adapter.gradient_model(WarmupConfig(seed=0))
    rows = _rows(7)
    weight = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    bias = torch.randn(3, generator=torch.Generator().manual_seed(2))
    moments = {
        "exp_avg/weight": torch.full((3, 5), 0.01),
        "exp_avg/bias": torch.full((3,), -0.02),
        "exp_avg_sq/weight": torch.full((3, 5), 1e-4),
        "exp_avg_sq/bias": torch.full((3,), 4e-4),
    }
    checkpoint = Checkpoint(0.1, {"param/weight": weight, "param/bias": bias, **moments})

    x = torch.from_numpy(np.stack(rows["features"]))
    residual = torch.softmax(x @ weight.T + bias, 1) - F.one_hot(torch.tensor(rows["label"].to_numpy()), 3)
    by_hand = torch.cat([torch.einsum("rc,rd->rcd", residual, x).reshape(7, -1), residual], 1)  # weight, bias
    plain = projected_gradients(Trainable(adapter, params), rows, Along([checkpoint], dim=64), adam=False)
    torch.testing.assert_close(plain[:, 0], project(by_hand, 64, seed=0), rtol=1e-4, atol=1e-5)

    m = torch.cat([moments["exp_avg/weight"].reshape(-1), moments["exp_avg/bias"]])
    v = torch.cat([moments["exp_avg_sq/weight"].reshape(-1), moments["exp_avg_sq/bias"]])
    direction = (0.9 * m + 0.1 * by_hand) / torch.sqrt(0.999 * v + 0.001 * by_hand**2 + 1e-8)
    adam = projected_gradients(Trainable(adapter, params), rows, Along([checkpoint], dim=64), adam=True)
    torch.testing.assert_close(adam[:, 0], project(direction, 64, seed=0), rtol=1e-4, atol=1e-4)


def test_the_trajectory_keeps_a_checkpoint_per_epoch_with_a_decaying_learning_rate():
    adapter = ClassifierAdapter("linear", 5, 3)
    params = adapter.gradient_model(WarmupConfig(seed=0))
    checkpoints = train_trajectory(
        Trainable(adapter, params), _rows(64), WarmupConfig(lr=0.1, batch_size=16, seed=0), 4
    )
    assert len(checkpoints) == 4
    # 16 steps at lr 0.1 · (1 − step/16); a checkpoint's weight is its epoch's mean: 0.1 · (1 − (4e + 1.5)/16).
    np.testing.assert_allclose([c.lr for c in checkpoints], [0.090625, 0.065625, 0.040625, 0.015625])
    first, last = checkpoints[0].tensors["param/weight"], checkpoints[-1].tensors["param/weight"]
    assert not torch.equal(first, last) and (checkpoints[-1].tensors["exp_avg_sq/weight"] > 0).all()


def test_a_stored_trajectory_loads_back_whole_and_a_damaged_one_is_refused():
    adapter = ClassifierAdapter("linear", 5, 3)
    params = adapter.gradient_model(WarmupConfig(seed=0))
    checkpoints = train_trajectory(Trainable(adapter, params), _rows(32), WarmupConfig(lr=0.1, batch_size=16), 2)
    data = save_trajectory(checkpoints)
    loaded = load_trajectory(data, [c.lr for c in checkpoints])
    assert [c.lr for c in loaded] == [c.lr for c in checkpoints]
    for mine, theirs in zip(checkpoints, loaded):
        assert mine.tensors.keys() == theirs.tensors.keys()
        assert all(torch.equal(mine.tensors[name], theirs.tensors[name]) for name in mine.tensors)
    damaged = bytearray(data)
    damaged[-2] ^= 0xFF
    with pytest.raises(Damaged):
        load_trajectory(bytes(damaged), [c.lr for c in checkpoints])
