"""Choose: `--method auto` judges the loss drop, embedding similarity and their blend on the
calibration's held-out folds and picks the method that scores the pool (curation.method_choice)."""

from __future__ import annotations

import time

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.cache.calibrations import obtain_method_choice
from curation.cache.keys import method_choice_key
from curation.calibration import Calibration, fold_positions
from curation.method_choice import MethodChoice, choose, fold_figures
from curation.models import ModelAdapter
from curation.pool import PoolCheck, Target
from curation.rows import HASH_COLUMN
from curation.scorers.base import unit_rows
from tasks.warmup import reference_for

CHOICE_KEY = "method-choice"  # the Prefect table artifact of the candidates


def find_method(
    adapter: ModelAdapter, target: Target, pool: PoolCheck, calibration: Calibration, config
) -> MethodChoice:
    """The method for this target (cached with the calibration); the loss drop if V is too small to fold."""
    if calibration.status == "skipped" or not calibration.fold_scores:
        return MethodChoice("lossdrop", config.similarity, status="skipped")
    validation = target.warm_rows

    def compute() -> MethodChoice:
        started = time.perf_counter()
        reference, _ = reference_for(adapter, target, pool, config)
        parts = fold_positions(validation[HASH_COLUMN], calibration.folds)
        embedded = unit_rows(adapter.embed(validation)), unit_rows(adapter.embed(reference))
        figures = fold_figures(calibration.fold_scores, *embedded, parts)
        table, method, similarity = choose(figures, config.similarity)
        return MethodChoice(
            method,
            similarity,
            table,
            folds=calibration.folds,
            forward_passes=len(validation) + len(reference),
            seconds=round(time.perf_counter() - started, 3),
        )

    key = method_choice_key(calibration.key)
    return obtain_method_choice(compute, config.cache, key)


@task(name="choose method", tags=["warmup"], persist_result=False, cache_policy=NO_CACHE)
def choose_method(
    adapter: ModelAdapter, target: Target, pool: PoolCheck, calibration: Calibration, config
) -> MethodChoice:
    """Pick lossdrop, embedding or blend for this target on the calibration's held-out folds (cached)."""
    found = find_method(adapter, target, pool, calibration, config)
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
    return found
