"""The `gradcos` baseline (LESS-style): per-row gradients, projection, scores, cache and cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from runs import curate_run, on_task, run_args
from torch.nn import functional as F

from curation.errors import InputError
from curation.models.base import WarmupConfig
from curation.models.classifier import ClassifierAdapter
from curation.scorers.gradcos_gradients import (
    Along,
    Checkpoint,
    Trainable,
    gradcos_scores,
    project,
    projected_gradients,
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


def test_gradcos_runs_stores_its_gradients_and_reuses_them(labelled_task, prefect_api_url, tmp_path):
    common = dict(
        **on_task(labelled_task, test=True),
        budget=300,
        cache=str(tmp_path / "cache"),
        method="gradcos",
        projection_dim=32,
        skip_finetune=True,
        shard_rows=1000,
    )
    first = curate_run(**common, out=str(tmp_path / "first"))
    cost = first["cost"]
    # 5% of 2400 rows, 4 epochs of batches of 64: 2 steps an epoch, on the pool, not on V.
    assert cost["warmup_steps"] == 8 and first["cache"]["warmup"] == "miss"
    checkpoints, validation_rows = 4, 200
    assert cost["scoring_forward_passes"] == cost["scoring_backward_passes"] == (2400 + validation_rows) * checkpoints
    # What it keeps: a float32 [rows, checkpoints, dim] tensor for the pool (and V's mean), per shard.
    assert cost["bytes_stored"] >= 2400 * checkpoints * 32 * 4
    stored = sorted((tmp_path / "cache" / "gradcos").glob("*/grads/shard-*.safetensors"))
    assert len(stored) == 3  # one file per shard of 1000 rows: the shard's completion marker

    again = curate_run(**common, out=str(tmp_path / "again"))
    assert again["cache"] == {**first["cache"], "pool": "hit", "warmup": "hit", "rows_scored": 0, "rows_reused": 2400}
    assert again["cost"]["scoring_forward_passes"] == 0 and again["cost"]["warmup_steps"] == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "first" / "scores.parquet"), pd.read_parquet(tmp_path / "again" / "scores.parquet")
    )

    # A run that died before a shard's file was written: the rerun computes that shard only.
    stored[0].unlink()
    resumed = curate_run(**common, out=str(tmp_path / "resumed"))
    assert (
        resumed["cache"]["rows_scored"] in (1000, 400)
        and resumed["cache"]["rows_reused"] == 2400 - resumed["cache"]["rows_scored"]
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "first" / "scores.parquet"), pd.read_parquet(tmp_path / "resumed" / "scores.parquet")
    )

    # A fresh cache: the same inputs and seed give the same scores, computed again.
    fresh = curate_run(**{**common, "cache": str(tmp_path / "other-cache")}, out=str(tmp_path / "fresh"))
    assert fresh["cache"]["rows_scored"] == 2400
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "first" / "scores.parquet"), pd.read_parquet(tmp_path / "fresh" / "scores.parquet")
    )
    # On this pool the wrong-label rows pull against V's gradient: gradcos ranks clean rows first.
    scores = pd.read_parquet(tmp_path / "first" / "scores.parquet").merge(
        pd.read_parquet(labelled_task["pool"]), on="id"
    )
    top = scores.nlargest(300, "score")
    assert (top["source"] == "clean").mean() > 0.8


def test_gradcos_on_a_causal_lm_leaves_the_model_as_it_found_it(tiny_lm, text_task, prefect_api_url, tmp_path):
    common = dict(
        **on_task(text_task, model=tiny_lm, test=True),
        budget=20,
        cache=str(tmp_path / "cache"),
        max_length=64,
        projection_dim=64,
    )
    gradcos = curate_run(**common, method="gradcos", out=str(tmp_path / "gradcos"))
    lossdrop = curate_run(**common, method="lossdrop", out=str(tmp_path / "lossdrop"))
    assert gradcos["evaluation"]["random"] == lossdrop["evaluation"]["random"]
    assert gradcos["cost"]["scoring_backward_passes"] == (90 + 24) * 4  # pool and V, each at 4 checkpoints
    selection = pd.read_parquet(tmp_path / "gradcos" / "selection.parquet")
    assert len(selection) == 20 and selection["score"].notna().all()


@pytest.mark.parametrize("option, value", [("--gradcos-fraction", "0"), ("--projection-dim", "0")])
def test_bad_gradcos_options_are_bad_input(curate_cli, labelled_task, tmp_path, option, value):
    done = curate_cli(
        *run_args(labelled_task, budget="10"), "--out", str(tmp_path / "out"), "--method", "gradcos", option, value
    )
    assert done.returncode == 2 and f"field '{option}'" in done.stderr


def test_gradcos_refuses_a_model_without_per_row_gradients():
    """The four gradcos hooks are a protocol of their own: the adapters here declare it; a model
    adapter that does not is refused with one line naming --method."""
    from curation.models.base import ModelAdapter, PerRowGradients
    from curation.scorers.base import ScoreRequest
    from curation.scorers.gradcos import GradCos

    assert isinstance(ClassifierAdapter("linear", 3, 2), PerRowGradients)
    assert not {"gradient_model", "prepare", "gradient_loss", "drop_gradient_model"} & set(
        ModelAdapter.__abstractmethods__
    )

    class NoGradients:  # what a model without the hooks offers gradcos: nothing
        pass

    from types import SimpleNamespace

    request = ScoreRequest(SimpleNamespace(adapter=NoGradients()), None, "scores.parquet")
    with pytest.raises(InputError, match="--method gradcos needs per-row gradients") as err:
        GradCos().score(request)
    assert err.value.field == "--method"
