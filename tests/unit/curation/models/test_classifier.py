"""The classifier adapter: θ0 is a seeded initialization (one fingerprint per architecture and
shape), the warmup keeps θ1 and θT and saves and loads them whole, losses come per row from any
state, and a finetune learns the rows' rule and is evaluated on accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_feature_rows

from curation.models.base import FinetuneConfig, WarmupConfig
from curation.models.classifier import ClassifierAdapter

WEIGHTS = np.random.default_rng(5).normal(size=(4, 3))
CONFIG = WarmupConfig(steps=20, lr=0.1, batch_size=16)


@pytest.fixture(scope="module")
def rows():
    return make_feature_rows(np.random.default_rng(6), WEIGHTS, 96)


def test_theta0_is_seeded_and_its_fingerprint_names_architecture_and_shape():
    one, two = ClassifierAdapter("linear", 4, 3), ClassifierAdapter("linear", 4, 3)
    assert one.fingerprint() == two.fingerprint()
    others = [ClassifierAdapter("mlp", 4, 3), ClassifierAdapter("linear", 4, 2), ClassifierAdapter("linear", 5, 3)]
    assert len({one.fingerprint(), *(other.fingerprint() for other in others)}) == 4


def test_the_warmup_keeps_theta1_and_lowers_the_loss_on_its_rows(rows):
    adapter, steps = ClassifierAdapter("mlp", 4, 3), []
    adapter.warmup(rows, CONFIG, progress=steps.append)
    assert steps == [1] * CONFIG.steps
    base, first, warm = (adapter.losses(rows, state) for state in ("theta0", "theta1", "warm"))
    assert warm.mean() < first.mean() < base.mean()
    assert base.dtype == np.float64 and base.shape == (96,)
    start, end = adapter.endpoint_losses(rows, batch_size=10, start="theta1")
    np.testing.assert_allclose(start, first, rtol=1e-6)
    np.testing.assert_allclose(end, warm, rtol=1e-6)
    whole = adapter.endpoint_losses(rows)
    np.testing.assert_allclose(whole[0], base, rtol=1e-6)


def test_the_warmup_hears_each_step_and_theta_t_moves_along(rows):
    adapter, seen = ClassifierAdapter("linear", 4, 3), []
    adapter.warmup(rows, WarmupConfig(steps=3, lr=0.1, batch_size=16), on_step=lambda s: seen.append(
        (s, float(adapter.losses(rows, "warm").mean()))))  # fmt: skip
    assert [s for s, _ in seen] == [1, 2, 3] and len({loss for _, loss in seen}) == 3


def test_theta1_and_theta_t_save_and_load_into_another_process_state(rows, tmp_path):
    trained = ClassifierAdapter("linear", 4, 3)
    trained.warmup(rows, CONFIG)
    trained.save_warm(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["start.safetensors", "warm.safetensors"]
    loaded = ClassifierAdapter("linear", 4, 3)
    loaded.load_warm(str(tmp_path))
    for state in ("theta1", "warm"):
        np.testing.assert_array_equal(loaded.losses(rows, state), trained.losses(rows, state))


def test_the_warm_gradient_spans_every_weight(rows):
    adapter = ClassifierAdapter("linear", 4, 3)
    adapter.warmup(rows, CONFIG)
    gradient = adapter.warm_gradient(rows)
    assert gradient.shape == (4 * 3 + 3,) and np.abs(gradient).sum() > 0


def test_a_finetune_learns_the_rule_and_is_the_same_for_the_same_seed(rows):
    adapter, held = ClassifierAdapter("linear", 4, 3), make_feature_rows(np.random.default_rng(7), WEIGHTS, 200)
    config = FinetuneConfig(epochs=20, lr=0.05, batch_size=16)
    ticks = []
    model = adapter.finetune(rows, config, seed=1, name="selection", progress=ticks.append)
    assert len(ticks) == config.steps_for(len(rows))
    metrics = adapter.evaluate(model, held)
    assert (
        set(metrics) == {"accuracy", "loss"}
        and metrics["accuracy"] > 0.8 > adapter.evaluate(adapter.base, held)["accuracy"]
    )
    again = adapter.finetune(rows, config, seed=1, name="random")
    assert torch.equal(again.weight, model.weight)
    assert not torch.equal(adapter.finetune(rows, config, seed=2, name="random").weight, model.weight)


def test_a_classifier_embeds_rows_as_their_features_and_trains_its_own_gradient_model(rows):
    adapter = ClassifierAdapter("linear", 4, 3)
    embedded = adapter.embed(rows)
    assert embedded.dtype == np.float32 and np.array_equal(embedded, np.stack(rows["features"].to_numpy()))
    params = adapter.gradient_model(CONFIG)
    assert [name for name, _ in params] == ["weight", "bias"]
    loss = adapter.gradient_loss(adapter.prepare(rows), [0, 1, 2], train=True)
    grads = torch.autograd.grad(loss, [p for _, p in params])
    assert grads[0].shape == (3, 4) and float(grads[0].abs().sum()) > 0
    adapter.drop_gradient_model()
    assert adapter.trajectory is None
