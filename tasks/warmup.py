"""Calibrate and warm up: θ0 → θT, a short, capacity-limited fine-tune on the validation set, cached.

By default (`--warmup auto`) the capacity is first calibrated to the target (`curation.calibration`):
a small grid of scope × lr × steps judged on held-out folds of the validation set against a
reference sample of the pool. θT and the calibration never depend on the pool beyond that pinned
sample, so both are computed once and reused for every later pool (`curation.cache.warmups`,
`curation.cache.calibrations`).
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.cache.warmups import obtain_warmup
from curation.calibration import describe
from curation.run.context import TargetRun
from curation.run.judge import find_warmup
from curation.run.settings import WarmupSettings
from curation.scorers import scorer_for

CALIBRATION_KEY = "warmup-calibration"  # the Prefect table artifact of the grid


def needs_calibration(run: TargetRun, settings: WarmupSettings) -> bool:
    """Whether the run judges warmups on held-out folds: to calibrate θT's capacity for a method that
    trains θT, or for `--method auto` to choose the method (a fixed warmup is then judged alone)."""
    return run.chooses_method or (scorer_for(run.method).needs_warmup and settings.calibrates)


@task(name="calibrate", tags=["warmup"], persist_result=False, cache_policy=NO_CACHE)
def calibrate_warmup(run: TargetRun, settings: WarmupSettings) -> TargetRun:
    """Calibrate the warmup's scope, lr and steps to the target on held-out folds of V (cached)."""
    found = find_warmup(run, settings)
    logger = get_run_logger()
    if found.status == "skipped":
        logger.warning(
            "warmup not calibrated: %d validation rows make fewer than 2 folds of 4; using %s",
            len(run.target.warm_rows),
            describe(found.config.as_dict(), run.adapter.kind),
        )
        return run.calibrated(found)
    logger.info("calibration %s: warmup %s", found.status, describe(found.config.as_dict(), run.adapter.kind))
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        key=CALIBRATION_KEY,
        table=found.table,
        description=f"warmup calibration ({found.criterion}, {found.folds} folds, grid {found.grid}): "
        "specificity per candidate",
    )
    return run.calibrated(found)


@task(name="warmup", tags=["warmup"], persist_result=False, cache_policy=NO_CACHE)
def warmup(run: TargetRun, settings: WarmupSettings) -> TargetRun:
    """Load θT from the warmup cache, or train it on the validation set and store it."""
    key = run.keys.warmup
    outcome = obtain_warmup(run.adapter, run.target.warm_rows, run.warmup, settings.cache, key)
    get_run_logger().info("warmup %s (key %s)", outcome.status, key[:12])
    return run.warmed(outcome)
