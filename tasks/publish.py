"""Publish: write every output into place (report.json last) and show the run in the Prefect UI
(report, top rows, outputs link, validation table); a refused pool's quarantine and reason likewise."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.dashboards import publish_dashboards, publish_validation
from curation.outputs import StagedOutputs
from curation.pool import AdmittedPool, PoolRejected
from curation.report import Report
from curation.run.outputs import stage_validation, write_outputs
from curation.run.report import Curated


@task(name="publish-rejection", tags=["publish"], persist_result=False, cache_policy=NO_CACHE)
def publish_rejection(outputs: StagedOutputs, config, rejected: PoolRejected) -> None:
    """A refused pool's quarantine, expectations and reason into place (rejected.json, no report.json)
    and its validation table in the Prefect UI: what to mend is visible, not only that it failed."""
    pool = rejected.pool
    stage_validation(outputs, config.pool, pool)
    counts = {"rows_read": pool.rows_read, "valid": pool.valid_rows, "quarantine_reasons": pool.reasons}
    outputs.publish_rejected({"pool": config.pool, "reason": str(rejected), "counts": counts})
    publish_validation(pool.expectations)


@task(name="publish", tags=["publish"], persist_result=False, cache_policy=NO_CACHE)
def publish(
    outputs: StagedOutputs, report: Report, pool: AdmittedPool, curated: Curated, target: str | None = None
) -> None:
    """Write the outputs into place, report.json last, and the run's dashboards in the Prefect UI (one
    target's of several: under keys named for it)."""
    write_outputs(outputs, report, pool, curated)
    publish_validation(pool.expectations, target)
    publish_dashboards(report, curated.chosen.frame, target)
