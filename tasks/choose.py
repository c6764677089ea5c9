"""Choose: `--method auto` judges the loss drop, embedding similarity and their blend on the
calibration's held-out folds and picks the method that scores the pool (curation.method_choice)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.run.context import TargetRun
from curation.run.judge import find_method
from curation.run.settings import WarmupSettings

CHOICE_KEY = "method-choice"  # the Prefect table artifact of the candidates


@task(name="choose method", tags=["warmup"], persist_result=False, cache_policy=NO_CACHE)
def choose_method(run: TargetRun, settings: WarmupSettings) -> TargetRun:
    """Pick lossdrop, embedding or blend for this target on the calibration's held-out folds (cached)."""
    found = find_method(run, settings)
    logger = get_run_logger()
    for line in found.words().splitlines():
        (logger.info if line.startswith("method") else logger.warning)("%s", line)
    if found.candidates:
        from prefect.artifacts import create_table_artifact

        rows = [{k: v for k, v in row.items() if k != "folds"} for row in found.candidates]
        create_table_artifact(
            key=CHOICE_KEY,
            table=rows,
            description=f"--method auto: held-out auc − ½ per candidate on {found.folds} folds; "
            f"chosen {found.method}; held-out target rows outrank {found.outranks:g}% of pool rows"
            + ("" if found.separates else ". No candidate separates the target from the pool: near random."),
        )
    return run.chose(found)
