"""Score: every valid pool row by the run's method, into scores.parquet.

The methods are scorers behind one interface (`curation.scorers`); this stage hands the chosen
one what it may use and records what it cost.
"""

from __future__ import annotations

import dataclasses

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.scorers import scorer_for
from curation.scorers.base import Scored, ScoreRequest
from tasks.slots import device_slot


@task(name="score", tags=["score"], persist_result=False, cache_policy=NO_CACHE)
def score(request: ScoreRequest) -> Scored:
    """Score the valid pool rows with the run's method into scores.parquet."""
    with device_slot(request.settings.device_slot, request.adapter.gpus, "score"):
        scored = scorer_for(request.run.method).score(request)
    get_run_logger().info("scored %d rows, reused %d from the cache", scored.rows_scored, scored.rows_reused)
    return dataclasses.replace(scored, path=request.path)
