"""A pool for one target: scanned once per content version through the validated-pool cache
(`curation.cache.pools`), then admitted for the target; a cached file found damaged on the way is
set aside and the pool scanned again."""

from __future__ import annotations

import dataclasses
import os

import pandas as pd

from curation.cache.entry import forget
from curation.cache.integrity import Damaged
from curation.cache.keys import pool_key
from curation.cache.pools import obtain_checked_pool
from curation.formats import Limits
from curation.io.sources import Source
from curation.pool import AdmittedPool, Reference, Target
from curation.validation.admit import admit
from curation.validation.scan import scan_pool


def check_pool(
    source: Source, ref: Reference, spill_dir: str, limits: Limits = Limits(), forbidden: frozenset[str] = frozenset()
) -> AdmittedPool:
    """A one-off check of a pool against the reference a validation set fixed, `forbidden` content hashes
    leaking (tests and benchmarks): its cache lives under `spill_dir`, with the admitted parts."""
    target = Target(ref, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), "none", forbidden=forbidden)
    return check_pool_for(source, target, spill_dir, os.path.join(spill_dir, "pool-cache"), limits)


def check_pool_for(source: Source, target: Target, spill_dir: str, cache: str, limits: Limits) -> AdmittedPool:
    """Check the pool once per content version (cached), then admit its rows for this target."""
    row_format = target.ref.row_format
    key = pool_key(source.identity, row_format.normalizes_to(), limits.scan_settings())
    damaged = 0
    for attempt in (1, 2):
        valid = obtain_checked_pool(lambda local: scan_pool(source, row_format, limits, local), cache, key)
        damaged += valid.damaged
        try:
            return dataclasses.replace(admit(valid, target, spill_dir, limits), damaged=damaged)
        except Damaged as err:
            if attempt == 2:
                raise
            forget(cache, valid.url, str(err))  # checked again on the second attempt
            damaged += 1
