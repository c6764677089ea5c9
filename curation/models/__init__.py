"""Model adapters behind one interface; `adapter_for` loads one per process and reuses it."""

from __future__ import annotations

from curation.formats.base import Reading
from curation.models.base import FinetuneConfig, ModelAdapter, ModelSpec, WarmupConfig
from curation.rows import CLASSIFIER_MODELS

__all__ = ["FinetuneConfig", "ModelAdapter", "ModelSpec", "WarmupConfig", "adapter_for", "forget_adapters"]

# Stages of one flow run share the loaded model: a base model loads once per process.
_LOADED: dict[ModelSpec, ModelAdapter] = {}


def adapter_for(spec: ModelSpec) -> ModelAdapter:
    """The adapter for `--model`: 'linear', 'mlp' or a local Hugging Face causal-LM directory that
    reads rows of `spec.row_format` (a registered format's name)."""
    if spec not in _LOADED:
        if spec.model in CLASSIFIER_MODELS:
            from curation.models.classifier import ClassifierAdapter

            _LOADED[spec] = ClassifierAdapter(spec.model, spec.feature_dim, spec.num_classes)
        else:
            from curation.models.causal_lm import CausalLMAdapter

            reading = Reading(spec.model, spec.max_length, spec.loss_on, spec.score_on, spec.truncation)
            _LOADED[spec] = CausalLMAdapter(reading, row_format=spec.row_format)
    return _LOADED[spec]


def forget_adapters() -> None:
    """Drop loaded models (between runs in one process, e.g. in tests)."""
    _LOADED.clear()
