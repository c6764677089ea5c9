"""Judging on held-out folds of the validation set: the warmup's calibration and `--method auto`'s
choice, each found once per target and cached (`curation.cache.calibrations`)."""

from __future__ import annotations

import time

import pandas as pd

from curation.cache.calibrations import ReferenceEntry, obtain_calibration, obtain_method_choice, pinned_reference
from curation.cache.keys import calibration_key, method_choice_key, model_identity
from curation.calibration import Calibration, Grid, Trial, calibrate, fold_count, fold_positions, grid_for
from curation.hashing import dataset_hash
from curation.method_choice import MethodChoice, choose, fold_figures
from curation.progress import progress_bar
from curation.rows import HASH_COLUMN
from curation.run.context import TargetRun
from curation.run.settings import WarmupSettings
from curation.scorers.base import unit_rows


def reference_for(run: TargetRun, settings: WarmupSettings) -> tuple[pd.DataFrame, str]:
    """The target's pinned reference sample of the pool (the model's grid may cap its size) and its hash."""
    adapter, target = run.adapter, run.target
    rows = min(settings.reference_rows, grid_for(adapter).max_reference or settings.reference_rows)
    validation_hash = dataset_hash(target.warm_rows[HASH_COLUMN])
    columns = target.ref.row_format.model_columns()
    entry = ReferenceEntry(validation_hash, rows, model_identity(adapter), tuple(run.pool.valid_parts), columns)
    found = pinned_reference(entry, settings.cache)
    return found.rows, found.hash


def find_warmup(run: TargetRun, settings: WarmupSettings) -> Calibration:
    """The calibrated warmup config for this target (cached); the run's warmup if V is too small to fold.

    A fixed warmup (`settings.calibrates` false) is judged alone on the folds: `--method auto` needs
    its held-out figure."""
    adapter, rows, base = run.adapter, run.target.warm_rows, run.warmup
    grid = grid_for(adapter) if settings.calibrates else Grid.fixed(base)
    folds = fold_count(len(rows), min(settings.folds, grid_for(adapter).max_folds or settings.folds))
    if folds < 2:
        return Calibration.skipped(base, folds, settings.criterion)
    reference, reference_hash = reference_for(run, settings)
    judged = {
        "grid": grid.as_dict(),
        "folds": folds,
        "criterion": settings.criterion,
        "base": base.as_dict(),
        "keeps": "fold-scores",  # entries written before the winner's drops were kept are not found
    }
    key = calibration_key(dataset_hash(rows[HASH_COLUMN]), model_identity(adapter), judged, reference_hash)

    def compute() -> Calibration:
        total = max(grid.steps) * len(grid.arms) * folds
        with progress_bar(total, "calibrate", unit="step", artifact_key="calibration-progress") as progress:
            trial = Trial(rows, reference, base, grid, folds=folds, criterion=settings.criterion)
            found = calibrate(adapter, trial, progress)
        found.reference_hash = reference_hash
        return found

    return obtain_calibration(compute, settings.cache, key)


def find_method(run: TargetRun, settings: WarmupSettings) -> MethodChoice:
    """The method for this target (cached with the calibration); the loss drop if V is too small to fold."""
    calibration = run.calibration
    if calibration is None or calibration.status == "skipped" or not calibration.fold_scores:
        return MethodChoice("lossdrop", run.similarity, status="skipped")
    validation = run.target.warm_rows

    def compute() -> MethodChoice:
        started = time.perf_counter()
        reference, _ = reference_for(run, settings)
        parts = fold_positions(validation[HASH_COLUMN], calibration.folds)
        embedded = unit_rows(run.adapter.embed(validation)), unit_rows(run.adapter.embed(reference))
        figures = fold_figures(calibration.fold_scores, *embedded, parts)
        table, method, similarity = choose(figures, run.similarity)
        return MethodChoice(
            method,
            similarity,
            table,
            folds=calibration.folds,
            forward_passes=len(validation) + len(reference),
            seconds=round(time.perf_counter() - started, 3),
        )

    return obtain_method_choice(compute, settings.cache, method_choice_key(calibration.key))
