"""Select: the best-scored rows within the budget, and the random control of the same size (curation.selection)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.run.context import TargetRun
from curation.run.settings import SelectionSettings
from curation.scorers.base import Scored
from curation.selection import Chosen, pick_rows


@task(name="select", tags=["select"], persist_result=False, cache_policy=NO_CACHE)
def select(run: TargetRun, scored: Scored, settings: SelectionSettings) -> Chosen:
    """Pick the rows to train on, and the random control of the same size."""
    return pick_rows(run, scored, settings)
