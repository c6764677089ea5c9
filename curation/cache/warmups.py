"""The warmup cache: θT (θ0 warmed up on the validation set) under `curation.cache.keys.warmup_key`.

θT never depends on the pool, so it is trained once and reused for every later pool. An entry
is `<cache>/warmup/<key>/`: the adapter's safetensors files and the manifest. Loading verifies
every file (`Stored.local_copy`); a damaged entry is set aside and trained again. Two runs that
need the same θT at once: one trains, the other waits and loads what the first stored (a `hit`).

Prefect's own result cache is not used for the warmup task (tasks/warmup.py): it would hand back
a manifest without checking the files it vouches for; the verified entry is the cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from curation import CODE_VERSION
from curation.cache.entry import DirectoryEntry, Stored, look_up, obtain
from curation.cache.integrity import Damaged
from curation.models import ModelAdapter, WarmupConfig
from curation.progress import progress_bar


@dataclass(frozen=True)
class Warmup:
    """What the warmup stage did: θT's manifest, and whether it was trained here."""

    manifest: dict[str, Any]
    status: str  # "hit" (loaded from the cache) or "miss" (trained by this run)
    damaged: int = 0  # damaged entries set aside (and rebuilt) on the way


@dataclass(frozen=True)
class WarmupEntry(DirectoryEntry[dict]):
    """θT of `adapter` warmed up on `validation` with `config`; its value is the manifest, its weights
    end up in the adapter (loaded, or trained here)."""

    adapter: ModelAdapter
    warm_key: str
    validation: pd.DataFrame | None = None  # None: load only (a scoring worker)
    config: WarmupConfig | None = None
    folder = "warmup"
    what = "warmup"

    @property
    def key(self) -> str:
        return self.warm_key

    def build(self, local: str) -> dict[str, Any]:
        if self.validation is None or self.config is None:
            raise RuntimeError(f"θT {self.warm_key[:12]} is not in the cache and this process cannot train it")
        started = time.perf_counter()
        with progress_bar(self.config.steps, "warmup", unit="step", artifact_key="warmup-progress") as progress:
            self.adapter.warmup(self.validation, self.config, progress)
        seconds = time.perf_counter() - started
        self.adapter.save_warm(local, self.warm_key)
        return {
            "config": self.config.as_dict(),
            "validation_rows": len(self.validation),
            "train_seconds": round(seconds, 3),
            "code_version": CODE_VERSION,
        }

    def open(self, stored: Stored, built: bool) -> dict:
        if not built and self.adapter.warm_key != self.warm_key:
            with stored.local_copy() as local:
                try:
                    self.adapter.load_warm(local, self.warm_key)
                except Exception as err:  # verified bytes that still do not load: written by other code
                    raise Damaged(f"{stored.url}: θT does not load ({type(err).__name__}: {err})") from None
        return stored.manifest


def obtain_warmup(
    adapter: ModelAdapter, validation: pd.DataFrame, config: WarmupConfig, cache: str, key: str
) -> Warmup:
    """θT in the adapter: loaded from a verified entry, or trained (once, under a lock) and stored."""
    found = obtain(WarmupEntry(adapter, key, validation, config), cache)
    return Warmup(found.value, found.status, found.damaged)


def load_into(adapter: ModelAdapter, cache: str, key: str) -> dict[str, Any]:
    """Load θT of a complete, verified entry into the adapter (a scoring worker's setup); its manifest."""
    manifest, _ = look_up(WarmupEntry(adapter, key), cache)
    if manifest is None:
        raise RuntimeError(f"θT {key[:12]} is missing from the cache {cache} or damaged; run again to rebuild it")
    return manifest
