"""The slices of a run's options each stage reads: the warmup is calibrated only when nothing fixes it,
the overrides reach the warmup config, and each slice carries its own options from the one config."""

from __future__ import annotations

import pytest

from curation.config import CurateConfig
from curation.models.base import WARMUP_DEFAULTS
from curation.run.settings import FinetuneSettings, ScoringSettings, SelectionSettings, WarmupSettings

BASE = dict(pool="pool.parquet", out="out", validation="v.parquet", model="linear", budget=10, cache="c")


def settings(**options) -> WarmupSettings:
    return WarmupSettings.of(CurateConfig(**BASE, **options))


@pytest.mark.parametrize(
    "options,calibrates",
    [
        ({}, True),
        ({"warmup": "fixed"}, False),
        ({"warmup_steps": 5}, False),
        ({"warmup_lr": 0.1}, False),
        ({"warmup_scope": "wide"}, False),
        ({"warmup_rank": 4}, True),  # the LoRA rank is not one of the grid's axes
        ({"warmup_seed": 3, "calibration_folds": 4}, True),
    ],
)
def test_the_warmup_is_calibrated_only_for_warmup_auto_with_nothing_fixed(options, calibrates):
    assert settings(**options).calibrates is calibrates


def test_the_warmup_config_is_the_kinds_default_with_the_runs_overrides():
    assert settings().config_for("features") == WARMUP_DEFAULTS["features"]
    assert settings(warmup_seed=7).config_for("text").seed == 7
    text = settings(warmup_steps=5, warmup_lr=0.5, warmup_scope="full", warmup_rank=3).config_for("text")
    assert (text.steps, text.lr, text.scope, text.lora_rank, text.lora_alpha) == (5, 0.5, "full", 3, 6)
    assert text.batch_size == WARMUP_DEFAULTS["text"].batch_size
    features = settings(warmup_steps=5, warmup_scope="full").config_for("features")
    assert features.steps == 5 and features.scope == WARMUP_DEFAULTS["features"].scope  # a classifier has no scope


def test_each_slice_carries_its_own_options():
    config = CurateConfig(
        **BASE, warmup="fixed", calibration_folds=5, calibration_reference=64, calibration_criterion="drop",
        seed=11, gradcos_fraction=0.5, projection_dim=32, selection="topk", finetune_epochs=2,
    )  # fmt: skip
    warming = WarmupSettings.of(config)
    assert (warming.cache, warming.mode, warming.folds, warming.reference_rows, warming.criterion) == (
        "c", "fixed", 5, 64, "drop"
    )  # fmt: skip
    assert ScoringSettings.of(config) == ScoringSettings("c", 11, 0.5, 32)
    assert SelectionSettings.of(config) == SelectionSettings(10, "topk", 11, control=True)
    assert SelectionSettings.of(config.model_copy(update={"skip_finetune": True})).control is False
    assert FinetuneSettings.of(config) == FinetuneSettings(2, 11)
    with pytest.raises(AttributeError):
        warming.mode = "auto"  # frozen: a stage cannot change what the next one reads
