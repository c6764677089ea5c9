"""The warmup cache: θT (θ0 warmed up on the validation set) stored under `curation.cache_keys.warmup_key`.

θT never depends on the pool, so it is trained once and reused for every later pool. An entry
is `<cache>/warmup/<key>/`: the adapter's safetensors files and a `manifest.json`, written last,
with each file's size and SHA-256. Loading verifies every file; a damaged entry is set aside and
trained again. Two runs that need the same θT at once take a lock: one trains, the other waits
and loads what the first stored (a `hit`).

Prefect's own result cache is not used for the warmup task (tasks/warmup.py): it would hand back
a manifest without checking the files it vouches for; the verified entry is the cache.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from curation import CODE_VERSION
from curation.integrity import MANIFEST, Damaged, check_local_copy, file_facts, parse_manifest, set_aside, warn
from curation.locks import exclusive
from curation.models import ModelAdapter, WarmupConfig
from curation.progress import progress_bar
from curation.storage import exists, filesystem, join, read_bytes, remove, write_json_atomic
from curation.tempfiles import temporary_dir


@dataclass
class Warmup:
    """What the warmup stage did: θT's manifest, and whether it was trained here."""

    manifest: dict[str, Any]
    status: str  # "hit" (loaded from the cache) or "miss" (trained by this run)
    damaged: int = 0  # damaged entries set aside (and rebuilt) on the way


def entry_url(cache: str, key: str) -> str:
    return join(cache, "warmup", key)


def load_into(adapter: ModelAdapter, cache: str, key: str) -> dict[str, Any] | None:
    """Load θT of a complete entry into the adapter; its manifest, None if there is no entry.

    Raises Damaged (without touching the entry) if a file is missing, cut short or altered.
    """
    url = entry_url(cache, key)
    manifest_url = join(url, MANIFEST)
    if not exists(manifest_url):
        return None
    manifest = parse_manifest(read_bytes(manifest_url), manifest_url)
    if getattr(adapter, "warm_key", None) == key:
        return manifest
    fs, entry = filesystem(url)
    with temporary_dir("warmup-load") as local:
        for name in manifest["files"]:
            try:
                os.makedirs(os.path.dirname(f"{local}/{name}"), exist_ok=True)
                fs.get_file(f"{entry}/{name}", f"{local}/{name}")
            except FileNotFoundError:
                raise Damaged(f"{url}: {name} is missing") from None
        check_local_copy(local, manifest, url)
        try:
            adapter.load_warm(local)
        except Exception as err:  # verified bytes that still do not load: written by other code
            raise Damaged(f"{url}: θT does not load ({type(err).__name__}: {err})") from None
    adapter.warm_key = key
    return manifest


def train_and_store(
    adapter: ModelAdapter, validation: pd.DataFrame, config: WarmupConfig, cache: str, key: str
) -> dict[str, Any]:
    """Train θT, write its files under the cache entry and the manifest last; return the manifest."""
    started = time.perf_counter()
    with progress_bar(config.steps, "warmup", unit="step", artifact_key="warmup-progress") as progress:
        adapter.warmup(validation, config, progress)
    seconds = time.perf_counter() - started
    url = entry_url(cache, key)
    remove(url, recursive=True)  # what a killed run left: no manifest, never read
    fs, entry = filesystem(url)
    manifest = {
        "key": key,
        "config": config.as_dict(),
        "validation_rows": len(validation),
        "train_seconds": round(seconds, 3),
        "code_version": CODE_VERSION,
    }
    try:
        with temporary_dir("warmup-save") as local:
            adapter.save_warm(local)
            manifest["files"] = file_facts(local)
            for name in manifest["files"]:
                fs.makedirs(f"{entry}/{name}".rsplit("/", 1)[0], exist_ok=True)
                fs.put_file(f"{local}/{name}", f"{entry}/{name}")
        write_json_atomic(join(url, MANIFEST), manifest)
    except BaseException:  # a full disk or an interrupt: no half-written entry stays
        remove(url, recursive=True)
        raise
    adapter.warm_key = key
    return manifest


def obtain_warmup(
    adapter: ModelAdapter, validation: pd.DataFrame, config: WarmupConfig, cache: str, key: str
) -> Warmup:
    """θT in the adapter: loaded from a verified entry, or trained (once, under a lock) and stored."""
    damaged = 0

    def loaded() -> dict[str, Any] | None:
        nonlocal damaged
        try:
            return load_into(adapter, cache, key)
        except Damaged as err:
            set_aside(cache, entry_url(cache, key), str(err))
            damaged += 1
            return None

    manifest = loaded()
    if manifest is not None:
        return Warmup(manifest, "hit", damaged)
    with exclusive(
        cache,
        f"warmup-{key}",
        on_wait=lambda: warn("another run is training this warmup (key %s); waiting for it", key[:12]),
    ):
        manifest = loaded()  # the run we waited for may have stored it
        if manifest is not None:
            return Warmup(manifest, "hit", damaged)
        return Warmup(train_and_store(adapter, validation, config, cache, key), "miss", damaged)
