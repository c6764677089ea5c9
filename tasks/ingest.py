"""Ingest: find a pool's files and read a target's small sets, as Prefect tasks over `curation.io`.

Reading may meet a passing storage fault (S3): each task retries twice, unless the input itself is bad.
"""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.errors import InputError
from curation.io.batches import read_rows
from curation.io.sources import Source, open_source


def _not_input_error(task, task_run, state) -> bool:
    """Retry transient storage errors, never bad input."""
    try:
        state.result()
    except InputError:
        return False
    except Exception:
        return True
    return False


IO_TASK = dict(
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_not_input_error,
    tags=["io"],
    persist_result=False,
    cache_policy=NO_CACHE,
)


@task(name="ingest", **IO_TASK)
def ingest(url: str) -> Source:
    """Find and check the files behind a path (Parquet or JSONL; local or s3://)."""
    return open_source(url)


@task(name="read-target-rows", **IO_TASK)
def read_target(url: str | None) -> pd.DataFrame | None:
    """Read a (small) validation or test set into memory (None: no such set)."""
    return read_rows(url) if url is not None else None
