"""Warmup: θ0 → θT, a short, capacity-limited fine-tune on the validation set, cached.

By default (`--warmup auto`) the capacity is first calibrated to the target (`curation.calibration`):
a small grid of scope × lr × steps judged on held-out folds of the validation set against a
reference sample of the pool. θT and the calibration never depend on the pool beyond that pinned
sample, so both are computed once and reused for every later pool: the verified cache entries,
their layouts are `curation.cache.warmups` and `curation.cache.calibrations`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.cache.calibrations import ReferenceEntry, obtain_calibration, pinned_reference
from curation.cache.keys import calibration_key, model_identity
from curation.cache.warmups import Warmup, obtain_warmup
from curation.calibration import Calibration, Grid, calibrate, describe, fold_count, grid_for
from curation.hashing import dataset_hash
from curation.models import ModelAdapter, WarmupConfig
from curation.models.base import WARMUP_DEFAULTS
from curation.pool import PoolCheck, Target
from curation.progress import progress_bar
from curation.rows import HASH_COLUMN
from curation.scorers import scorer_for

CALIBRATION_KEY = "warmup-calibration"  # the Prefect table artifact of the grid


def warmup_config(kind: str, config) -> WarmupConfig:
    """The model kind's default warmup with the run's overrides (`--warmup-steps/-lr/-scope/-rank/-seed`)."""
    # The warmup's seed is its own option: a run that only changes the seed of the selection and
    # the finetunes (--seed) reuses θT.
    rank = config.warmup_rank
    overrides = {
        "steps": config.warmup_steps,
        "lr": config.warmup_lr,
        "scope": config.warmup_scope if kind == "text" else None,
        "lora_rank": rank,
        "lora_alpha": 2 * rank if rank is not None else None,
    }
    return dataclasses.replace(
        WARMUP_DEFAULTS[kind], seed=config.warmup_seed, **{k: v for k, v in overrides.items() if v is not None}
    )


def sized_for(adapter: ModelAdapter, config: WarmupConfig) -> WarmupConfig:
    """The warmup with the batch size the model's calibration grid trains with (smaller for a large
    model on a CPU), calibrated or fixed alike: the candidates and θT train the same way."""
    batch_size = grid_for(adapter).batch_size
    return dataclasses.replace(config, batch_size=batch_size) if batch_size else config


def calibrates(config) -> bool:
    """Whether the run calibrates its warmup: `--warmup auto` and no fixed setting given."""
    fixed = (config.warmup_steps, config.warmup_lr, config.warmup_scope)
    return config.warmup == "auto" and all(value is None for value in fixed)


def needs_calibration(config) -> bool:
    """Whether the run judges warmups on held-out folds: to calibrate θT's capacity for a method that
    trains θT, or for `--method auto` to choose the method (a fixed warmup is then judged alone)."""
    return config.chooses_method or (scorer_for(config.method).needs_warmup and calibrates(config))


def reference_for(adapter: ModelAdapter, target: Target, pool: PoolCheck, config) -> tuple[pd.DataFrame, str]:
    """The target's pinned reference sample of the pool (the model's grid may cap its size) and its hash."""
    rows = min(config.calibration_reference, grid_for(adapter).max_reference or config.calibration_reference)
    validation_hash = dataset_hash(target.warm_rows[HASH_COLUMN])
    columns = target.ref.row_format.model_columns()
    entry = ReferenceEntry(validation_hash, rows, model_identity(adapter), tuple(pool.valid_parts), columns)
    found = pinned_reference(entry, config.cache)
    return found.rows, found.hash


def find_warmup(adapter: ModelAdapter, target: Target, pool: PoolCheck, base: WarmupConfig, config) -> Calibration:
    """The calibrated warmup config for this target (cached); the base config if V is too small to fold.

    A fixed warmup (`calibrates(config)` false) is judged alone on the folds: `--method auto` needs
    its held-out figure."""
    rows, grid = target.warm_rows, grid_for(adapter) if calibrates(config) else Grid.fixed(base)
    wanted = config.calibration_folds
    folds = fold_count(len(rows), min(wanted, grid_for(adapter).max_folds or wanted))
    if folds < 2:
        return Calibration(base, [], folds, 0, 0.0, config.calibration_criterion, 0, status="skipped")
    reference, reference_hash = reference_for(adapter, target, pool, config)
    settings = {
        "grid": grid.as_dict(),
        "folds": folds,
        "criterion": config.calibration_criterion,
        "base": base.as_dict(),
        "keeps": "fold-scores",  # entries written before the winner's drops were kept are not found
    }
    key = calibration_key(dataset_hash(rows[HASH_COLUMN]), model_identity(adapter), settings, reference_hash)

    def compute() -> Calibration:
        total = max(grid.steps) * len(grid.arms) * folds
        with progress_bar(total, "calibrate", unit="step", artifact_key="calibration-progress") as progress:
            found = calibrate(adapter, rows, reference, base, grid, folds, config.calibration_criterion, progress)
        found.reference_hash = reference_hash
        return found

    return obtain_calibration(compute, config.cache, key)


@task(name="calibrate", tags=["warmup"], persist_result=False, cache_policy=NO_CACHE)
def calibrate_warmup(adapter: ModelAdapter, target: Target, pool: PoolCheck, base: WarmupConfig, config) -> Calibration:
    """Calibrate the warmup's scope, lr and steps to the target on held-out folds of V (cached)."""
    found = find_warmup(adapter, target, pool, base, config)
    logger = get_run_logger()
    if found.status == "skipped":
        logger.warning(
            "warmup not calibrated: %d validation rows make fewer than 2 folds of 4; using %s",
            len(target.warm_rows),
            describe(found.config.as_dict(), adapter.kind),
        )
        return found
    logger.info("calibration %s: warmup %s", found.status, describe(found.config.as_dict(), adapter.kind))
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        key=CALIBRATION_KEY,
        table=found.table,
        description=f"warmup calibration ({found.criterion}, {found.folds} folds, grid {found.grid}): "
        "specificity per candidate",
    )
    return found


@task(name="warmup", tags=["warmup"], persist_result=False, cache_policy=NO_CACHE)
def warmup(adapter: ModelAdapter, validation: pd.DataFrame, config: WarmupConfig, cache: str, key: str) -> Warmup:
    """Load θT from the warmup cache, or train it on the validation set and store it."""
    outcome = obtain_warmup(adapter, validation, config, cache, key)
    get_run_logger().info("warmup %s (key %s)", outcome.status, key[:12])
    return outcome
