"""The score's start point θ1 and the calibrated warmup: folds, specificity, the choice, the cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch.nn import functional as F

from curation.cache.calibrations import ReferenceEntry, obtain_calibration, pinned_reference, reference_sample
from curation.calibration import Grid, Trial, calibrate, cheapest_best, fold_count, fold_positions
from curation.formats.features import Features
from curation.models.base import WarmupConfig
from curation.models.classifier import ClassifierAdapter, build
from curation.rows import HASH_COLUMN
from curation.scorers.lossdrop import score_rows

COLUMNS = Features.model_columns()


def hashed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(**{HASH_COLUMN: Features.row_hashes(frame)})
    return frame.assign(id=frame[HASH_COLUMN])


def rows_of(rng, weights, n, shift=0.0) -> pd.DataFrame:
    x = rng.normal(size=(n, weights.shape[0])) + shift
    return hashed(pd.DataFrame({"features": list(x.astype(np.float32)), "label": (x @ weights).argmax(1)}))


@pytest.fixture
def domains():
    """A target domain (validation) and a shifted domain with another rule (the reference)."""
    rng = np.random.default_rng(3)
    target_rule, other_rule = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    validation = rows_of(rng, target_rule, 60)
    x = rng.normal(size=(80, 6)) + 2.0
    reference = hashed(pd.DataFrame({"features": list(x.astype(np.float32)), "label": (x @ other_rule).argmax(1)}))
    return validation, reference


def test_theta1_start_scores_the_drop_from_the_first_step_by_hand(domains, tmp_path):
    validation, reference = domains
    adapter = ClassifierAdapter("linear", 6, 3)
    adapter.warmup(validation, WarmupConfig(steps=7, lr=0.1, batch_size=16))
    adapter.save_warm(str(tmp_path))
    x = torch.from_numpy(np.stack(reference["features"].to_numpy()))
    y = torch.tensor(reference["label"].to_numpy())

    def by_hand(file: str) -> np.ndarray:  # the stored checkpoint's weights, cross-entropy written out
        weights = load_file(str(tmp_path / file))
        logits = x @ weights["weight"].T + weights["bias"]
        return (torch.logsumexp(logits, 1) - logits[torch.arange(len(y)), y]).double().numpy()

    first, last = by_hand("start.safetensors"), by_hand("warm.safetensors")
    scored = score_rows(adapter, reference, start="theta1")
    np.testing.assert_allclose(scored["loss_base"], first, rtol=1e-5)
    np.testing.assert_allclose(scored["loss_warm"], last, rtol=1e-5)
    np.testing.assert_allclose(scored["score"], (first - last) / first, rtol=1e-4, atol=1e-6)
    base = F.cross_entropy(build("linear", 6, 3)(x), y, reduction="none").double().detach().numpy()
    assert not np.allclose(first, base)  # θ1 is a step away from θ0
    np.testing.assert_allclose(score_rows(adapter, reference, start="theta0")["loss_base"], base, rtol=1e-5)


def test_theta1_is_the_model_after_the_first_step(domains):
    """With one warmup step θ1 is θT: every θ1-start score is zero, θ0-start ones are not."""
    validation, reference = domains
    adapter = ClassifierAdapter("linear", 6, 3)
    adapter.warmup(validation, WarmupConfig(steps=1, lr=0.1, batch_size=16))
    assert np.all(score_rows(adapter, reference, start="theta1")["score"] == 0.0)
    assert np.abs(score_rows(adapter, reference, start="theta0")["score"]).max() > 1e-3


def test_folds_are_disjoint_cover_every_row_and_do_not_depend_on_row_order(domains):
    validation, _ = domains
    folds = fold_positions(validation[HASH_COLUMN], 3)
    held = np.concatenate(folds)
    assert len(held) == len(validation) == len(set(held.tolist()))
    assert {len(f) for f in folds} == {20}
    shuffled = validation.sample(frac=1.0, random_state=5).reset_index(drop=True)
    again = fold_positions(shuffled[HASH_COLUMN], 3)
    as_sets = [set(validation[HASH_COLUMN].iloc[f]) for f in folds]
    assert as_sets == [set(shuffled[HASH_COLUMN].iloc[f]) for f in again]
    assert fold_count(60, 3) == 3 and fold_count(9, 3) == 2 and fold_count(7, 3) == 1


def test_a_zero_lr_candidate_has_zero_specificity_and_is_never_chosen(domains):
    validation, reference = domains
    adapter = ClassifierAdapter("linear", 6, 3)
    grid = Grid(arms=(("full", 0.0), ("full", 0.1)), steps=(2, 6))
    found = calibrate(adapter, Trial(validation, reference, WarmupConfig(batch_size=16), grid, folds=3))
    frozen = [row for row in found.table if row["lr"] == 0.0]
    assert len(frozen) == 2 and all(row["specificity"] == 0.0 for row in frozen)
    assert found.config.lr == 0.1
    assert [row["chosen"] for row in found.table].count(True) == 1
    # raced: the frozen arm cannot reach the trained one after the first fold and is not trained again
    assert {row["dropped"] for row in frozen} == {"below the best"} and {row["folds"] for row in frozen} == {1}
    assert found.steps_trained == 6 * 2 + 6 * 2 and found.folds == 3 and not found.ruled_out


def test_a_rival_no_candidate_can_reach_ends_the_calibration_after_the_first_fold(domains):
    """`--method auto`: embedding's figure, judged first, ahead of every loss-drop candidate's bound."""
    validation, reference = domains
    adapter = ClassifierAdapter("linear", 6, 3)
    grid = Grid(arms=(("full", 0.0), ("full", 1e-4)), steps=(2, 6))
    trial = Trial(validation, reference, WarmupConfig(batch_size=16), grid, folds=3, rival=(0.45, 0.45, 0.45))
    found = calibrate(adapter, trial)
    assert found.ruled_out and found.steps_trained == 6 * 2  # one fold of two arms: a third of the grid
    assert {row["folds"] for row in found.table} == {1} and {row["dropped"] for row in found.table} == {
        "below the rival"
    }
    assert len(found.fold_scores) == 1 and [row["chosen"] for row in found.table].count(True) == 1
    alone = calibrate(adapter, dataclasses.replace(trial, rival=None))  # no rival: judged to the last fold
    assert not alone.ruled_out and max(row["folds"] for row in alone.table) == 3 and len(alone.fold_scores) == 3


def test_the_gradient_criterion_also_never_picks_the_frozen_candidate(domains):
    validation, reference = domains
    adapter = ClassifierAdapter("linear", 6, 3)
    grid = Grid(arms=(("full", 0.0), ("full", 0.1)), steps=(3,))
    found = calibrate(adapter, Trial(validation, reference, WarmupConfig(batch_size=16), grid, 3, criterion="gradient"))
    assert found.config.lr == 0.1 and found.criterion == "gradient"
    chosen = next(row for row in found.table if row["chosen"])
    assert chosen["specificity"] == max(row["specificity"] for row in found.table) > 0.0


def test_ties_go_to_fewer_steps_then_the_smaller_scope_then_the_smaller_lr():
    row = lambda scope, lr, steps, s: {"scope": scope, "lr": lr, "steps": steps, "specificity": s}  # noqa: E731
    table = [
        row("full", 1e-3, 20, 0.5),
        row("wide", 1e-2, 20, 0.5),
        row("wide", 3e-3, 20, 0.5),
        row("full", 1, 80, 0.4),
    ]
    assert cheapest_best(table) == row("wide", 3e-3, 20, 0.5)
    assert cheapest_best(table + [row("attention", 1e-2, 40, 0.5)]) == row("wide", 3e-3, 20, 0.5)
    assert cheapest_best(table + [row("full", 1e-2, 80, 0.7)])["specificity"] == 0.7


def test_the_reference_is_the_pool_rows_of_smallest_hash_and_is_pinned_per_target(domains, tmp_path):
    validation, reference = domains
    parts = []
    shuffled = reference.sample(frac=1.0, random_state=2)
    for i in range(3):
        parts.append(str(tmp_path / f"part-{i}.parquet"))
        shuffled.iloc[i::3].to_parquet(parts[-1])
    sample = reference_sample(parts, 10, COLUMNS)
    assert sorted(sample[HASH_COLUMN]) == sorted(reference[HASH_COLUMN])[:10]
    cache = str(tmp_path / "cache")
    model = {"files": "f", "max_length": 64, "truncation": "keep-start"}

    def pinned(validation_hash, pool_parts, reading):
        found = pinned_reference(ReferenceEntry(validation_hash, 10, reading, tuple(pool_parts), COLUMNS), cache)
        return found.rows, found.hash

    first, first_hash = pinned("v1", parts, model)
    other_pool = str(tmp_path / "other.parquet")
    validation.to_parquet(other_pool)
    again, again_hash = pinned("v1", [other_pool], model)  # a later pool: the same
    assert again_hash == first_hash and list(again[HASH_COLUMN]) == list(first[HASH_COLUMN])
    _, another_target = pinned("v2", [other_pool], model)
    assert another_target != first_hash
    # finding 4: other reading settings (a token limit at which other rows are admitted) pin their own sample
    shorter = dict(model, max_length=32)
    _, reread = pinned("v1", [other_pool], shorter)
    assert reread != first_hash
    assert pinned("v1", parts, shorter)[1] == reread


def test_a_damaged_calibration_entry_is_set_aside_and_computed_again(domains, tmp_path):
    validation, reference = domains
    cache = str(tmp_path / "cache")
    grid = Grid(arms=(("full", 0.1),), steps=(2,))

    def compute():
        return calibrate(ClassifierAdapter("linear", 6, 3), Trial(validation, reference, WarmupConfig(), grid, 3))

    assert obtain_calibration(compute, cache, "k").status == "miss"
    assert obtain_calibration(compute, cache, "k").status == "hit"
    (tmp_path / "cache" / "calibration" / "k" / "manifest.json").write_text('{"config": {"steps"')
    assert obtain_calibration(compute, cache, "k").status == "miss"
    assert list((tmp_path / "cache" / "damaged").rglob("manifest.json"))
