"""Model adapters behind one interface; a run's `LoadedModels` loads each once (`adapter_for`)."""

from __future__ import annotations

from curation.models.base import FinetuneConfig, ModelAdapter, ModelSpec, WarmupConfig
from curation.models.loaded import LoadedModels, adapter_for

__all__ = ["FinetuneConfig", "LoadedModels", "ModelAdapter", "ModelSpec", "WarmupConfig", "adapter_for"]
