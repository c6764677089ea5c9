"""Warmup: θ0 → θT on the validation set, cached under a hash of (validation, θ0, config, code).

θT never depends on the pool, so it is trained once and reused for every later pool. The cache
is a directory per key holding safetensors weights and a JSON manifest written last (its
presence marks the entry complete). The Prefect task is cached on the same key through an
explicit cache_key_fn and returns the small manifest, never the model.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import pandas as pd
from prefect import task
from prefect.context import get_run_context

from curation import CODE_VERSION
from curation.hashing import json_hash
from curation.models import ModelAdapter, WarmupConfig
from curation.progress import progress_bar
from curation.storage import exists, filesystem, join, read_json, write_json_atomic

MANIFEST = "manifest.json"


def warmup_key(validation_hash: str, model_fingerprint: str, config: WarmupConfig) -> str:
    """The cache key of θT: everything it depends on, and nothing else."""
    return json_hash({"validation": validation_hash, "model": model_fingerprint,
                      "config": config.as_dict(), "code": CODE_VERSION})


def entry_url(cache: str, key: str) -> str:
    return join(cache, "warmup", key)


def cached_manifest(cache: str, key: str) -> dict[str, Any] | None:
    """The manifest of a complete cache entry, or None."""
    manifest = join(entry_url(cache, key), MANIFEST)
    return read_json(manifest) if exists(manifest) else None


def train_and_store(adapter: ModelAdapter, validation: pd.DataFrame, config: WarmupConfig,
                    cache: str, key: str, run_id: str | None = None) -> dict[str, Any]:
    """Train θT, write it under the cache entry, manifest last; return the manifest."""
    started = time.perf_counter()
    with progress_bar(config.steps, "warmup", unit="step", artifact_key="warmup-progress") as progress:
        adapter.warmup(validation, config, progress)
    seconds = time.perf_counter() - started
    fs, entry = filesystem(entry_url(cache, key))
    with tempfile.TemporaryDirectory() as local:
        adapter.save_warm(local)
        fs.makedirs(entry, exist_ok=True)
        fs.put(local.rstrip("/") + "/", entry, recursive=True)
    manifest = {"key": key, "config": config.as_dict(), "validation_rows": len(validation),
                "train_seconds": round(seconds, 3), "created_by_flow_run": run_id,
                "code_version": CODE_VERSION}
    write_json_atomic(join(entry_url(cache, key), MANIFEST), manifest)
    adapter.warm_key = key
    return manifest


def load_into(adapter: ModelAdapter, cache: str, key: str) -> None:
    """Load θT of a cache entry into the adapter, unless it already holds it."""
    if getattr(adapter, "warm_key", None) == key:
        return
    fs, entry = filesystem(entry_url(cache, key))
    with tempfile.TemporaryDirectory() as local:
        fs.get(entry.rstrip("/") + "/", local, recursive=True)
        adapter.load_warm(local)
    adapter.warm_key = key


def _current_flow_run_id() -> str | None:
    context = get_run_context()
    run = getattr(context, "task_run", None)
    return str(run.flow_run_id) if run is not None and run.flow_run_id else None


@task(name="warmup", tags=["warmup"], cache_key_fn=lambda context, params: f"warmup-{params['key']}",
      persist_result=True, result_serializer="json")
def warmup(adapter: ModelAdapter, validation: pd.DataFrame, config: WarmupConfig,
           cache: str, key: str) -> dict[str, Any]:
    """Train θT on the validation set, or find it in the cache; return its manifest."""
    found = cached_manifest(cache, key)
    if found is not None:  # the weights are there even if Prefect's own record is gone
        return found
    return train_and_store(adapter, validation, config, cache, key, _current_flow_run_id())
