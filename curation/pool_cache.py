"""The validated-pool cache: a pool's valid rows, checked once per content version and kept for
every later run, resumed run or other target on the same pool.

What the checks that involve no target find (types, text lengths, Unicode, duplicates) depends
only on the pool's files, the row format, the limits and the checks' code, so it is stored at
`<cache>/pools/<key>/`: the valid rows as Parquet parts (normalized, with ids and content hashes),
the quarantined rows, and a `manifest.json` written last with every file's size and SHA-256 and
the check's summary (counts, reasons, per-expectation figures, the pool's content hash). The key
hashes each file's URL, size and ETag (S3) or modification time (local), so a hit reads no pool
file. Each part is verified as it is read (`read_part`); a damaged entry is set aside and the pool
is checked again. Two runs checking the same pool at once take a lock: one checks, one waits.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from curation.hashing import json_hash
from curation.integrity import MANIFEST, Damaged, file_facts, parse_manifest, set_aside, sha256, warn
from curation.locks import exclusive
from curation.storage import exists, filesystem, join, naming_a_full_disk, read_bytes, remove, write_json_atomic
from curation.tempfiles import temporary_dir

# Bump when a row format's checks or normalization change what a pool's check finds (2: issue 32, chat).
CHECKS_VERSION = "2"
QUARANTINE = "quarantine.parquet"


def pool_key(identity, row_format: str, limits: dict[str, Any]) -> str:
    """The cache key of a pool's check: its files' identities, the row format, the limits and the checks' version."""
    return json_hash(
        {"files": [list(f) for f in identity], "format": row_format, "limits": limits, "checks": CHECKS_VERSION}
    )


@dataclass(frozen=True)
class ValidPool:
    """A pool's checked rows in the cache: where they are, what the check found, and whether this run checked it."""

    url: str
    manifest: dict[str, Any]
    status: str  # "hit" (checked by an earlier run) or "miss" (checked by this one)
    damaged: int = 0  # damaged entries set aside (and rebuilt) on the way

    @property
    def parts(self) -> list[str]:
        return self.manifest["summary"]["parts"]

    @property
    def summary(self) -> dict[str, Any]:
        return self.manifest["summary"]


def entry_url(cache: str, key: str) -> str:
    return join(cache, "pools", key)


def read_part(pool: ValidPool, name: str) -> pa.Table:
    """One file of the entry, verified against the manifest's size and SHA-256 (Damaged if not)."""
    url = join(pool.url, name)
    expected = pool.manifest["files"].get(name)
    try:
        data = read_bytes(url)
    except FileNotFoundError:
        raise Damaged(f"{url}: missing") from None
    if expected is None or len(data) != expected.get("size") or sha256(data) != expected.get("sha256"):
        raise Damaged(f"{url}: does not match its size and SHA-256 in the manifest")
    return pq.read_table(io.BytesIO(data))


def _stored(cache: str, key: str) -> ValidPool | None:
    url = entry_url(cache, key)
    manifest_url = join(url, MANIFEST)
    if not exists(manifest_url):
        return None
    manifest = parse_manifest(read_bytes(manifest_url), manifest_url)
    if not isinstance(manifest.get("summary"), dict) or not isinstance(manifest["summary"].get("parts"), list):
        raise Damaged(f"{manifest_url}: no summary of the check")
    return ValidPool(url, manifest, "hit")


def _store(local: str, summary: dict[str, Any], cache: str, key: str) -> ValidPool:
    url = entry_url(cache, key)
    remove(url, recursive=True)  # what a killed run left: no manifest, never read
    fs, entry = filesystem(url)
    manifest = {"key": key, "files": file_facts(local), "summary": summary}
    try:
        with naming_a_full_disk(url):
            fs.makedirs(entry, exist_ok=True)
            for name in manifest["files"]:
                fs.put_file(os.path.join(local, name), f"{entry}/{name}")
        write_json_atomic(join(url, MANIFEST), manifest)
    except BaseException:  # a full disk or an interrupt: no half-written entry stays
        remove(url, recursive=True)
        raise
    return ValidPool(url, manifest, "miss")


def obtain_valid_pool(check: Callable[[str], dict[str, Any]], cache: str, key: str) -> ValidPool:
    """The checked pool under `key` (a hit), or `check(local_dir)`'s, stored (once, under a lock).

    `check` writes the valid parts and `quarantine.parquet` into the directory and returns the
    summary (with `parts`: the part files in pool order).
    """
    damaged = 0

    def stored() -> ValidPool | None:
        nonlocal damaged
        try:
            return _stored(cache, key)
        except Damaged as err:
            set_aside(cache, entry_url(cache, key), str(err))
            damaged += 1
            return None

    found = stored()
    if found is None:
        waiting = lambda: warn("another run is checking this pool (key %s); waiting for it", key[:12])  # noqa: E731
        with exclusive(cache, f"pool-{key}", on_wait=waiting):
            found = stored()
            if found is None:
                with temporary_dir("pool-check") as local:
                    found = _store(local, check(local), cache, key)
    return ValidPool(found.url, found.manifest, found.status, damaged)


def forget(pool: ValidPool, cache: str, reason: str) -> None:
    """Set a damaged entry aside (found so while reading a part); the next obtain checks the pool again."""
    set_aside(cache, pool.url, reason)
