"""Select: the best-scored rows within the budget, and the random control of the same size (curation.selection);
with several targets, each target's share of the budget, no row twice (curation.run.joint)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.run.context import TargetRun
from curation.run.joint import ScoredTarget, TargetChoice, pick_for_targets
from curation.run.settings import SelectionSettings
from curation.scorers.base import Scored
from curation.selection import Chosen, pick_rows


@task(name="select", tags=["select"], persist_result=False, cache_policy=NO_CACHE)
def select(run: TargetRun, scored: Scored, settings: SelectionSettings) -> Chosen:
    """Pick the rows to train on, and the random control of the same size."""
    return pick_rows(run, scored, settings)


@task(name="select-for-targets", tags=["select"], persist_result=False, cache_policy=NO_CACHE)
def select_for_targets(targets: dict[str, ScoredTarget], settings: SelectionSettings) -> dict[str, TargetChoice]:
    """Split the budget by the targets' weights and fill each share, no row selected twice."""
    choices = pick_for_targets(targets, settings)
    for name, choice in choices.items():
        get_run_logger().info(
            "target %s: %d of its %d rows, %d lost to other targets",
            name, len(choice.chosen.positions), choice.quota, choice.lost,
        )  # fmt: skip
    return choices
