"""The adapter interface's plain data: which model a process loads and how it reads rows (a spec that
keys the loaded-model cache), the warmup and finetune configs, and each model kind's defaults."""

from __future__ import annotations

import pandas as pd

from curation.config import CurateConfig
from curation.models.base import (
    FINETUNE_DEFAULTS,
    WARMUP_DEFAULTS,
    FinetuneConfig,
    ModelSpec,
    PerRowGradients,
    WarmupConfig,
)
from curation.models.classifier import ClassifierAdapter
from curation.pool import Reference, Target


def a_target(ref: Reference) -> Target:
    rows = pd.DataFrame({"label": [0, 2]})
    return Target(ref=ref, validation=rows, warm_rows=rows, eval_rows=rows, eval_set="test", forbidden=frozenset())


def test_a_spec_is_the_runs_model_and_what_the_validation_set_fixed():
    common = dict(pool="p", out="o", validation="v", budget=1)
    features = ModelSpec.of(CurateConfig(**common, model="mlp"), a_target(Reference("features", 8, (0, 1, 2))))
    assert (features.model, features.feature_dim, features.num_classes) == ("mlp", 8, 3)
    assert features.row_format == "features"
    chat = CurateConfig(**common, model=".", max_length=96, loss_on="last-turn", score_on="conversation",
                        truncation="keep-end")  # fmt: skip
    spec = ModelSpec.of(chat, a_target(Reference("messages")))
    assert (spec.feature_dim, spec.num_classes, spec.row_format, spec.max_length) == (None, None, "messages", 96)
    assert (spec.loss_on, spec.score_on, spec.truncation) == ("last-turn", "conversation", "keep-end")
    again = ModelSpec.of(chat, a_target(Reference("messages")))
    assert {spec: "loaded"}[again] == "loaded"  # equal specs find the same loaded model
    assert ModelSpec.of(chat.model_copy(update={"max_length": 64}), a_target(Reference("messages"))) != spec


def test_a_finetune_runs_epochs_over_the_rows_unless_its_steps_are_capped():
    config = FinetuneConfig(epochs=3, batch_size=16)
    assert config.steps_for(32) == 6 and config.steps_for(33) == 9 and config.steps_for(1) == 3
    assert config.steps_for(0) == 3  # at least one batch per epoch
    assert FinetuneConfig(epochs=3, batch_size=16, max_steps=5).steps_for(10_000) == 5


def test_configs_round_trip_through_their_dicts():
    warm = WarmupConfig(steps=7, lr=0.1, scope="wide", lora_rank=2, lora_alpha=4, seed=3)
    assert WarmupConfig(**warm.as_dict()) == warm and warm.as_dict()["scope"] == "wide"
    finetune = FinetuneConfig(epochs=2, max_steps=9)
    assert FinetuneConfig(**finetune.as_dict()) == finetune


def test_each_kind_has_its_defaults_and_lora_alpha_is_twice_the_rank():
    assert set(WARMUP_DEFAULTS) == set(FINETUNE_DEFAULTS) == {"features", "text"}
    text = WARMUP_DEFAULTS["text"]
    assert text.lora_alpha == 2 * text.lora_rank and text.scope == "attention"
    assert WARMUP_DEFAULTS["features"].batch_size > text.batch_size  # a classifier takes bigger batches


def test_per_row_gradients_is_declared_by_the_adapters_that_support_gradcos():
    assert isinstance(ClassifierAdapter("linear", 2, 2), PerRowGradients)
    assert not isinstance(object(), PerRowGradients)
