"""The calibration's grid sized to the model's cost on its device: the ladder, the estimate, the budget."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from curation.grids import BUDGET_S, FLOPS, GRIDS, Grid, forward_seconds, grid_for


def model(kind="text", parameters=135_000_000, gpus=0, tokens=128):
    """An adapter's shape: what the grid depends on (each row encodes to `tokens` ids)."""
    return SimpleNamespace(
        kind=kind, parameters=parameters, gpus=gpus, encode=lambda rows, scoring: [([0] * tokens, None)] * len(rows)
    )


ROWS = pd.DataFrame({"text": ["a row"] * 40})  # the ShareGPT benchmark's 40 validation rows


@pytest.fixture(autouse=True)
def two_threads(monkeypatch):
    """This project's machine: 2 CPU threads (the rate is per thread)."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)


def test_a_135m_model_on_this_cpu_gets_the_lean_grid_a_gpu_the_full_one_and_a_small_model_the_full_one(monkeypatch):
    assert grid_for(model(), ROWS).name == "text-lean"
    assert grid_for(model(gpus=1), ROWS) is GRIDS["text"]
    assert grid_for(model(parameters=1_000_000), ROWS) is GRIDS["text"]  # the man-page benchmark's models
    assert grid_for(model(parameters=20_000_000), ROWS).name == "text-large-cpu"
    assert grid_for(model("features", 10**9), ROWS).name == "features"  # a classifier has one grid
    assert grid_for(model(parameters=10**12), ROWS).name == "text-lean"  # none fits: the ladder's last
    monkeypatch.setattr(torch, "get_num_threads", lambda: 16)  # a larger CPU fits the middle grid
    assert grid_for(model(), ROWS).name == "text-large-cpu"


def test_the_estimate_counts_passes_as_the_grid_runs_them():
    grid = GRIDS["text-large-cpu"]  # 2 arms, steps (4, 8, 12), 2 folds, 64 reference rows, batches of 8
    judge = 3 * (40 / 2 + 64)  # three step counts, each judging 20 held-out rows and 64 reference rows
    train = 12 * 8 * 3  # 12 steps of 8 rows, a forward and a backward each
    assert grid.passes(40, 128, 3) == 2 * (40 + 64) + 2 * 2 * (train + judge)
    seconds = forward_seconds(model(), ROWS)
    assert seconds == pytest.approx(2 * 135e6 * 128 / (FLOPS["cpu"] * 2))
    # SmolLM2 on this machine: the grid before the race took 514 s; its estimate (2 threads): 521 s
    assert grid.passes(40, 128, 3) * 2 * 135e6 * 128 / (FLOPS["cpu"] * 2) == pytest.approx(517, abs=10)
    lean = GRIDS["text-lean"]
    assert lean.passes(40, 128, 3) * 2 * 135e6 * 128 / (FLOPS["cpu"] * 2) < BUDGET_S


def test_a_fixed_warmup_is_a_grid_of_one():
    config = SimpleNamespace(scope="full", lr=0.01, steps=30)
    assert Grid.fixed(config).as_dict()["arms"] == [["full", 0.01]] and Grid.fixed(config).steps == (30,)
