"""The calibration's race: the auc's error, the bound against the best and the rival, halving, early stopping."""

from __future__ import annotations

import math

import pytest

from curation.racing import Race, auc_standard_error

ARM_A, ARM_B, ARM_C, ARM_D = ("attention", 1e-3), ("attention", 1e-2), ("full", 1e-3), ("full", 1e-2)


def grid(*arms, steps=(4, 8)):
    return [(scope, lr, step) for scope, lr in arms for step in steps]


def judge(race: Race, figures: dict, held=20, reference=64) -> None:
    """One fold: each candidate's figure recorded, then the fold's rules."""
    for candidate, figure in figures.items():
        race.record(candidate, figure)
    race.end_fold(held, reference)


def test_the_aucs_error_is_hanley_and_mcneils_and_shrinks_with_rows():
    # Hanley & McNeil (1982), table 1's case: A = 0.8, 50 and 50 cases: SE 0.0447 (their Q1, Q2 formula)
    assert auc_standard_error(0.8, 50, 50) == pytest.approx(0.0447, abs=5e-4)
    assert auc_standard_error(0.7, 20, 64) > auc_standard_error(0.7, 40, 128) > 0
    assert auc_standard_error(1.0, 20, 64) >= 0 and math.isfinite(auc_standard_error(0.0, 1, 1))


def test_a_candidate_that_cannot_reach_the_best_within_its_error_is_dropped_and_a_close_one_stays():
    race = Race(grid(ARM_A, ARM_B, steps=(4,)), folds=3)
    judge(race, {("attention", 1e-3, 4): 0.30, ("attention", 1e-2, 4): 0.25})
    # 0.05 apart: within two errors of a fold of 20 against 64 (≈ 0.07 each); the halving still cuts 2 → 1
    assert race.dropped == {("attention", 1e-2, 4): "halved"}
    race = Race(grid(ARM_A, ARM_B, steps=(4,)), folds=3)
    judge(race, {("attention", 1e-3, 4): 0.30, ("attention", 1e-2, 4): -0.05})
    assert race.dropped == {("attention", 1e-2, 4): "below the best"}
    assert race.steps_to_judge(*ARM_B) == [] and race.steps_to_judge(*ARM_A) == [4] and not race.ruled_out


def test_only_the_better_half_goes_on_to_the_next_fold_ties_at_the_cut_kept():
    a, b, c, d = grid(ARM_A, ARM_B, ARM_C, ARM_D, steps=(4,))
    race = Race([a, b, c, d], folds=3)
    judge(race, {a: 0.20, b: 0.19, c: 0.17, d: 0.16})  # all within each other's error: halving alone cuts
    assert race.dropped == {c: "halved", d: "halved"}  # 4 → 2
    race = Race([a, b, c, d], folds=3)
    judge(race, {a: 0.20, b: 0.18, c: 0.18, d: 0.17})
    assert race.dropped == {d: "halved"}  # the cut falls on a tie: both kept


def test_no_rule_applies_after_the_last_fold():
    race = Race(grid(ARM_A, ARM_B, steps=(4,)), folds=1)
    judge(race, {("attention", 1e-3, 4): 0.30, ("attention", 1e-2, 4): -0.3})
    assert race.dropped == {} and not race.ruled_out


def test_a_rival_above_every_candidates_bound_rules_the_loss_drop_out_and_none_never_does():
    candidates = {("attention", 1e-3, 4): 0.11, ("attention", 1e-3, 8): 0.05}
    race = Race(grid(ARM_A), rival=(0.33, 0.30), folds=2)
    judge(race, candidates)
    assert race.ruled_out and set(race.dropped.values()) == {"below the rival"}
    alone = Race(grid(ARM_A), folds=2)
    judge(alone, candidates)
    assert not alone.ruled_out and ("attention", 1e-3, 4) not in alone.dropped
    close = Race(grid(ARM_A), rival=(0.20, 0.30), folds=2)  # the rival's first fold: within the error
    judge(close, candidates)
    assert not close.ruled_out
    other_criterion = Race(grid(ARM_A), rival=(0.33, 0.30), folds=2, auc=False)  # figures not in auc units
    judge(other_criterion, candidates)
    assert not other_criterion.ruled_out


def test_a_run_past_its_peak_on_the_first_fold_stops_and_its_later_steps_are_never_judged():
    race = Race(grid(ARM_A, ARM_B, steps=(4, 8, 12)), folds=2)
    race.record(("attention", 1e-2, 4), 0.10)
    assert not race.past_peak("attention", 1e-2, 4)
    race.record(("attention", 1e-2, 8), 0.02)  # fell by more than the tie
    assert race.past_peak("attention", 1e-2, 8)
    assert race.dropped == {("attention", 1e-2, 12): "early-stopped"} and race.steps_to_judge(*ARM_B) == [4, 8]
    race.record(("attention", 1e-3, 4), 0.10)
    race.record(("attention", 1e-3, 8), 0.095)  # within the tie: not a fall
    assert not race.past_peak("attention", 1e-3, 8)
    race.end_fold(20, 64)
    race.record(("attention", 1e-3, 4), 0.0)
    race.record(("attention", 1e-3, 8), -0.2)
    assert not race.past_peak("attention", 1e-3, 8)  # later folds train each arm to its last step left


def test_the_table_has_a_row_per_candidate_judged_with_its_folds_and_why_it_left():
    race = Race(grid(ARM_A, ARM_B, steps=(4,)), folds=3)
    judge(race, {("attention", 1e-3, 4): 0.30, ("attention", 1e-2, 4): -0.05})
    race.record(("attention", 1e-3, 4), 0.20)
    race.end_fold(20, 64)
    rows = {(row["lr"], row["steps"]): row for row in race.table()}
    assert rows[(1e-3, 4)]["folds"] == 2 and rows[(1e-3, 4)]["specificity"] == 0.25 and rows[(1e-3, 4)]["dropped"] == ""
    assert rows[(1e-2, 4)]["folds"] == 1 and rows[(1e-2, 4)]["dropped"] == "below the best"
    assert rows[(1e-3, 4)]["spread"] == pytest.approx(0.070711, abs=1e-6)
