"""Model adapters behind one interface; `adapter_for` loads one per process and reuses it."""

from __future__ import annotations

from curation.models.base import FinetuneConfig, ModelAdapter, WarmupConfig
from curation.rows import CLASSIFIER_MODELS

__all__ = ["FinetuneConfig", "ModelAdapter", "WarmupConfig", "adapter_for", "forget_adapters"]

# Stages of one flow run share the loaded model: a base model loads once per process.
_LOADED: dict[tuple, ModelAdapter] = {}


def adapter_for(
    model: str,
    feature_dim: int | None = None,
    num_classes: int | None = None,
    max_length: int = 256,
    row_format: str | None = None,
) -> ModelAdapter:
    """The adapter for `--model`: 'linear', 'mlp' or a local Hugging Face causal-LM directory that
    reads rows of `row_format` (a registered format's name)."""
    key = (model, feature_dim, num_classes, max_length, row_format)
    if key not in _LOADED:
        if model in CLASSIFIER_MODELS:
            from curation.models.classifier import ClassifierAdapter

            _LOADED[key] = ClassifierAdapter(model, feature_dim, num_classes)
        else:
            from curation.models.causal_lm import CausalLMAdapter

            _LOADED[key] = CausalLMAdapter(model, max_length=max_length, row_format=row_format)
    return _LOADED[key]


def forget_adapters() -> None:
    """Drop loaded models (between runs in one process, e.g. in tests)."""
    _LOADED.clear()
