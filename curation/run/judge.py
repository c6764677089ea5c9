"""Judging on held-out folds of the validation set: the warmup's calibration and `--method auto`'s
choice, each found once per target and cached (`curation.cache.calibrations`)."""

from __future__ import annotations

import dataclasses
import time

import pandas as pd

from curation.cache.calibrations import ReferenceEntry, obtain_calibration, obtain_method_choice, pinned_reference
from curation.cache.keys import calibration_key, method_choice_key, model_identity
from curation.calibration import Calibration, Trial, calibrate, fold_count, fold_positions
from curation.grids import Grid, grid_for
from curation.hashing import dataset_hash
from curation.method_choice import MethodChoice, Similarities, choose, fold_figures, fold_similarities, rival
from curation.progress import progress_bar
from curation.rows import HASH_COLUMN
from curation.run.context import TargetRun
from curation.run.settings import WarmupSettings
from curation.scorers.base import unit_rows


def reference_for(run: TargetRun, settings: WarmupSettings) -> tuple[pd.DataFrame, str]:
    """The target's pinned reference sample of the pool (the model's grid may cap its size) and its hash."""
    adapter, target = run.adapter, run.target
    cap = grid_for(adapter, target.warm_rows).max_reference
    rows = min(settings.reference_rows, cap or settings.reference_rows)
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
    sized = grid_for(adapter, rows)  # by the model's cost on its device (curation.grids)
    grid = sized if settings.calibrates else Grid.fixed(base)
    folds = fold_count(len(rows), min(settings.folds, sized.max_folds or settings.folds))
    if folds < 2:
        return Calibration.skipped(base, folds, settings.criterion)
    reference, reference_hash = reference_for(run, settings)
    raced = run.chooses_method and settings.criterion == "auc"  # embedding is judged first, as the rival
    judged = {
        "grid": grid.as_dict(),
        "folds": folds,
        "criterion": settings.criterion,
        "base": base.as_dict(),
        "keeps": "raced",  # entries of the full grid, before the race (curation.racing), are not found
        "rival": "embedding" if raced else None,
    }
    key = calibration_key(dataset_hash(rows[HASH_COLUMN]), model_identity(adapter), judged, reference_hash)

    def compute() -> Calibration:
        similarities = embedded(run, reference, folds) if raced else []
        total = max(grid.steps) * len(grid.arms) * folds  # at most: the race stops most runs sooner
        with progress_bar(total, "calibrate", unit="step", artifact_key="calibration-progress") as progress:
            trial = Trial(rows, reference, base, grid, folds=folds, criterion=settings.criterion)
            if similarities:
                trial = dataclasses.replace(trial, rival=rival(similarities))
            found = calibrate(adapter, trial, progress)
        found.reference_hash, found.fold_similarities = reference_hash, similarities
        return found

    return obtain_calibration(compute, settings.cache, key)


def embedded(run: TargetRun, reference: pd.DataFrame, folds: int) -> Similarities:
    """Each fold's held-out and reference rows' similarity to the training folds, over θ0's embeddings."""
    validation = run.target.warm_rows
    parts = fold_positions(validation[HASH_COLUMN], folds)
    return fold_similarities(unit_rows(run.adapter.embed(validation)), unit_rows(run.adapter.embed(reference)), parts)


def find_method(run: TargetRun, settings: WarmupSettings) -> MethodChoice:
    """The method for this target (cached with the calibration); the loss drop if V is too small to fold."""
    calibration = run.calibration
    if calibration is None or calibration.status == "skipped" or not calibration.fold_scores:
        return MethodChoice("lossdrop", run.similarity, status="skipped")
    validation = run.target.warm_rows

    def compute() -> MethodChoice:
        started = time.perf_counter()
        similarities = calibration.fold_similarities  # judged with the calibration when it raced: its θ0 pass
        passes = len(validation) + calibration.reference_rows if similarities and calibration.status == "miss" else 0
        if not similarities:
            reference, _ = reference_for(run, settings)
            similarities, passes = embedded(run, reference, calibration.folds), len(validation) + len(reference)
        figures = fold_figures(calibration.fold_scores, similarities)
        table, method, similarity = choose(figures, run.similarity)
        return MethodChoice(
            method,
            similarity,
            table,
            folds=len(calibration.fold_scores),  # fewer than the calibration's when embedding ruled the loss drop out
            forward_passes=passes,
            seconds=round(time.perf_counter() - started, 3),
        )

    return obtain_method_choice(compute, settings.cache, method_choice_key(calibration.key))
