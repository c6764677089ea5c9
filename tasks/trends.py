"""Trends: this run's row per target appended to the history under `--trends`, its drift against the
previous run there, the `curation-trends` artifact; a run that drifted is tagged `drift`, logs a
warning and emits `curation.drift.detected` (what an automation acts on: flows/service/automations.py)."""

from __future__ import annotations

import math

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.config import CurateConfig
from curation.pool import AdmittedPool
from curation.report import Report
from curation.rows import HASH_COLUMN
from curation.scorers.base import Scored
from curation.trend_dashboard import TRENDS_KEY, trend_row, trends_markdown
from curation.trends import Drift, DriftThresholds, Night, record_run

DRIFT_EVENT = "curation.drift.detected"
DRIFT_TAG = "drift"


def night_of(report: Report, pool: AdmittedPool, scored: Scored) -> Night:
    """What the next run compares with: the scored rows' content hashes and scores, the method, the lift."""
    lift = report.evaluation.lift if report.evaluation else None
    return Night(pool.column(HASH_COLUMN), scored.scores, report.effective.method, lift, report.flow_run)


@task(name="trends", persist_result=False, cache_policy=NO_CACHE)
def track_trends(config: CurateConfig, nights: dict[str, tuple[Report, Night]]) -> dict[str, Drift | None]:
    """Record the run in the trends history, publish the trends, flag each target that drifted."""
    from prefect.artifacts import create_markdown_artifact

    reports = {name: report for name, (report, _) in nights.items()}
    thresholds = DriftThresholds(ks=config.drift_ks, new_rows=config.drift_new_rows)
    history, drifts = record_run(
        config.trends,
        {name: night for name, (_, night) in nights.items()},
        lambda name, drift: trend_row(name, reports[name], drift),
        thresholds,
    )
    create_markdown_artifact(
        key=TRENDS_KEY, markdown=trends_markdown(history), description=f"the last runs per target ({config.trends})"
    )
    drifted = {name: drift for name, drift in drifts.items() if drift is not None and drift.drifted}
    if drifted:
        flag_drift(drifted, config.trends)
    return drifts


def flag_drift(drifted: dict[str, Drift], trends: str) -> None:
    """A warning per target, the `drift` tag on this run, and one `curation.drift.detected` event per target
    (related to the deployment whose run it is, so that an automation can act on that deployment)."""
    from prefect.client.orchestration import get_client
    from prefect.events import emit_event
    from prefect.runtime import deployment, flow_run

    logger = get_run_logger()
    deployment_id = deployment.id or flow_run.parent_deployment_id
    related = [{"prefect.resource.id": f"prefect.deployment.{deployment_id}", "prefect.resource.role": "deployment"}]
    for name, drift in drifted.items():
        logger.warning("drift on target %s: %s (history: %s)", name, "; ".join(drift.reasons), trends)
        emit_event(
            event=DRIFT_EVENT,
            resource={"prefect.resource.id": f"curation.target.{name}", "prefect.resource.name": name},
            related=related if deployment_id else None,
            payload=_finite({"target": name, "trends": trends, **drift.as_dict()}),
        )
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run.id)
        client.update_flow_run(flow_run.id, tags=sorted({*run.tags, DRIFT_TAG}))


def _finite(value):
    """The payload with NaN and infinities as null: an event's payload is JSON."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value
