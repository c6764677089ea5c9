"""The models one flow run (or one Ray worker) has loaded: an object the run owns, not a process global.

A base model loads once per run: the stages and the shard jobs on the run's threads share it
(Prefect's thread pool copies the run's context into each task's thread, so `adapter_for` finds
the run's `LoadedModels`). Nothing outlives the run: a later run in the same process (a test,
`curate compare`, a watcher) loads its own, so no θT and no finetune's adapter leaks from one run
into the next. A Ray worker activates its own around each job (curation/engines.py), so its
long-lived process loads the model once for all the shards it is handed.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from curation.formats.base import Reading
from curation.models.base import ModelAdapter, ModelSpec
from curation.rows import CLASSIFIER_MODELS

_ACTIVE: ContextVar[LoadedModels | None] = ContextVar("curation_loaded_models", default=None)


def load_adapter(spec: ModelSpec) -> ModelAdapter:
    """A new adapter for `--model`: 'linear', 'mlp' or a local Hugging Face causal-LM directory that
    reads rows of `spec.row_format` (a registered format's name)."""
    if spec.model in CLASSIFIER_MODELS:
        from curation.models.classifier import ClassifierAdapter

        return ClassifierAdapter(spec.model, spec.feature_dim, spec.num_classes)
    from curation.models.causal_lm import CausalLMAdapter

    reading = Reading(spec.model, spec.max_length, spec.loss_on, spec.score_on, spec.truncation)
    return CausalLMAdapter(reading, row_format=spec.row_format)


class LoadedModels:
    """Adapters by spec, each loaded on first use; active (what `adapter_for` uses) inside `active()`."""

    def __init__(self):
        self._adapters: dict[ModelSpec, ModelAdapter] = {}
        self._lock = threading.Lock()  # two shard threads asking at once load the model once

    def adapter_for(self, spec: ModelSpec) -> ModelAdapter:
        with self._lock:
            if spec not in self._adapters:
                self._adapters[spec] = load_adapter(spec)
            return self._adapters[spec]

    def __len__(self) -> int:
        return len(self._adapters)

    @contextmanager
    def active(self) -> Iterator[LoadedModels]:
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)


def adapter_for(spec: ModelSpec) -> ModelAdapter:
    """The active run's adapter for `spec`; outside a run (no `LoadedModels` active), a new one."""
    models = _ACTIVE.get()
    return models.adapter_for(spec) if models is not None else load_adapter(spec)
