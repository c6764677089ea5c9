"""Validate: the target's sets checked strictly and the pool checked for the target, as Prefect
tasks over `curation.validation` (bad pool rows quarantined, the pool's scan cached)."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.formats import Limits, ModelKind
from curation.formats.base import Reading
from curation.io.sources import Source
from curation.pool import AdmittedPool, Target
from curation.validation.pool import check_pool_for
from curation.validation.target import check_target


@task(name="validate-target", tags=["validate"], persist_result=False, cache_policy=NO_CACHE)
def validate_target(
    validation: pd.DataFrame, test: pd.DataFrame | None, reader: ModelKind | Reading, limits: Limits
) -> Target:
    """Check the validation and test sets strictly; derive the reference for the pool."""
    return check_target(validation, test, reader, limits)


@task(name="validate-pool", tags=["validate"], persist_result=False, cache_policy=NO_CACHE)
def validate_pool(source: Source, target: Target, spill_dir: str, limits: Limits, cache: str) -> AdmittedPool:
    """Check the pool (once per content version: cached), admit its rows for the target; quarantine bad rows."""
    checked = check_pool_for(source, target, spill_dir, cache, limits)
    read, valid = checked.rows_read, checked.valid_rows
    counts = f"{read} rows read, {valid} valid, {read - valid} quarantined"
    get_run_logger().info("pool %s: %s %s", source.url, counts, checked.reasons)
    return checked
