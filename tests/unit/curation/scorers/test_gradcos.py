"""The `gradcos` baseline (LESS-style) end to end: its gradients stored and reused, its cost, its options
and the models it refuses (the trajectory, projection and scores: test_gradcos_gradients.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from runs import curate_run, on_task, run_args

from curation.errors import InputError
from curation.models.classifier import ClassifierAdapter


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
