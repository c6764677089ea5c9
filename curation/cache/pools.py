"""The validated-pool cache: a pool's valid rows, checked once per content version and kept for
every later run, resumed run or other target on the same pool.

What the checks that involve no target find (types, text lengths, Unicode, duplicates) depends
only on the pool's files, the row format, the limits and the checks' code (`curation.cache.keys.pool_key`:
each file's URL, size and ETag or content digest, so a hit reads no pool file). The entry
(`<cache>/pools/<key>/`) holds the valid rows as Parquet parts (normalized, with ids and content
hashes), the quarantined rows, and the manifest with the check's summary (counts, reasons,
per-expectation figures, the pool's content hash). Each part is verified as it is read
(`read_part`), so a hit costs no pass over the parts before they are needed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import pyarrow as pa

from curation.cache.entry import DirectoryEntry, Obtained, Stored, obtain
from curation.cache.integrity import Damaged

QUARANTINE = "quarantine.parquet"


@dataclass(frozen=True)
class CheckedPool:
    """A pool's rows that passed the checks every target shares, in the cache: where they are, what the
    check found, and whether this run checked it. A target admits from it (`AdmittedPool`)."""

    stored: Stored
    status: str = "hit"  # "hit" (checked by an earlier run) or "miss" (checked by this one)
    damaged: int = 0  # damaged entries set aside (and rebuilt) on the way

    @property
    def url(self) -> str:
        return self.stored.url

    @property
    def summary(self) -> dict[str, Any]:
        return self.stored.facts

    @property
    def parts(self) -> list[str]:
        return self.summary["parts"]


@dataclass(frozen=True)
class PoolEntry(DirectoryEntry[CheckedPool]):
    """The check of one pool version: `check(local_dir)` writes the valid parts and `quarantine.parquet`
    and returns the summary (with `parts`: the part files in pool order)."""

    pool_key: str
    check: Callable[[str], dict[str, Any]]
    folder = "pools"
    what = "pool check"

    @property
    def key(self) -> str:
        return self.pool_key

    def build(self, local: str) -> dict[str, Any]:
        return self.check(local)

    def open(self, stored: Stored, built: bool) -> CheckedPool:
        if not isinstance(stored.facts.get("parts"), list):
            raise Damaged(f"{stored.url}: no summary of the check")
        return CheckedPool(stored, "miss" if built else "hit")


def obtain_checked_pool(check: Callable[[str], dict[str, Any]], cache: str, key: str) -> CheckedPool:
    """The checked pool under `key` (a hit), or `check(local_dir)`'s, stored (once, under a lock)."""
    found: Obtained[CheckedPool] = obtain(PoolEntry(key, check), cache)
    return dataclasses.replace(found.value, damaged=found.damaged)


def read_part(pool: CheckedPool, name: str) -> pa.Table:
    """One file of the entry, verified against the manifest's size and SHA-256 (Damaged if not)."""
    return pool.stored.read_parquet(name)
