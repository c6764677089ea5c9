"""Several targets: `NAME=VALIDATION[:WEIGHT]` parsed with clear errors, the budget split by weight,
and the quotas filled by a weighted round-robin that never takes a row twice."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from curation.errors import InputError
from curation.targets import TargetOption, check_names, pick_across, quotas


def test_a_target_is_a_name_a_validation_set_and_an_optional_weight():
    assert TargetOption.parse("code=val/code.parquet:3") == TargetOption("code", "val/code.parquet", 3.0)
    assert TargetOption.parse("math=s3://bucket/math.jsonl") == TargetOption("math", "s3://bucket/math.jsonl", 1.0)
    assert TargetOption.parse("de=s3://b/de.parquet:0.5").weight == 0.5
    assert TargetOption.parse("x=C:/data/v.parquet").validation == "C:/data/v.parquet"  # no number after ':'


@pytest.mark.parametrize(
    "text, words",
    [
        ("code", "NAME=VALIDATION"),
        ("=v.parquet", "NAME=VALIDATION"),
        ("co de=v.parquet", "NAME=VALIDATION"),
        ("code=", "NAME=VALIDATION"),
        ("code=v.parquet:0", "above 0"),
        ("code=v.parquet:-1", "above 0"),
        ("code=v.parquet:1e999", "finite"),
        ("code=v.parquet:1.2.3", "not a number"),
        ("ünï=v.parquet", "NAME=VALIDATION"),
    ],
)
def test_a_bad_target_is_one_error_naming_the_flag(text, words):
    with pytest.raises(InputError, match=words) as caught:
        TargetOption.parse(text)
    assert caught.value.field == "--target"


def test_two_targets_of_one_name_are_refused():
    check_names([TargetOption("a", "x"), TargetOption("b", "y")])
    with pytest.raises(InputError, match="two targets are named 'Code'"):
        check_names([TargetOption("code", "x"), TargetOption("Code", "y")])


def test_the_budget_is_split_by_weight_with_the_largest_remainder():
    assert quotas(100, {"code": 3, "math": 1}) == {"code": 75, "math": 25}
    assert quotas(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}  # the tie goes to the first
    assert quotas(7, {"a": 1, "b": 2}) == {"a": 2, "b": 5}
    assert sum(quotas(1, {"a": 1, "b": 1}).values()) == 1


def test_a_row_two_targets_want_goes_once_and_the_other_target_takes_its_next_best():
    rankings = {"code": np.array([5, 1, 2, 3, 4, 0]), "math": np.array([5, 0, 4, 3, 2, 1])}
    taken = pick_across(rankings, {"code": 2, "math": 2})
    assert taken["code"].rows.tolist() == [5, 1] and taken["math"].rows.tolist() == [0, 4]
    assert taken["code"].lost == 0 and taken["math"].lost == 1  # row 5 was in math's top 2, code took it


def test_rows_are_named_by_a_key_every_target_shares_such_as_the_content_hash():
    rankings = {"code": np.array(["h3", "h1", "h2"]), "math": np.array(["h3", "h2"])}
    taken = pick_across(rankings, {"code": 1, "math": 1})
    assert taken["code"].rows.tolist() == ["h3"] and taken["math"].rows.tolist() == ["h2"]


def test_a_target_whose_ranking_runs_out_stops_short_and_the_others_fill_theirs():
    taken = pick_across({"a": np.array([0, 1]), "b": np.array([0, 1, 2, 3])}, {"a": 2, "b": 2})
    assert taken["a"].rows.tolist() == [0] and taken["b"].rows.tolist() == [1, 2]


@given(
    weights=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    pool=st.integers(1, 60),
    budget=st.integers(1, 60),
    seed=st.integers(0, 2**16),
)
def test_quotas_are_met_while_rows_last_and_no_row_is_taken_twice(weights, pool, budget, seed):
    rng = np.random.default_rng(seed)
    names = [f"t{i}" for i in range(len(weights))]
    counts = quotas(min(budget, pool), dict(zip(names, weights)))
    rankings = {name: rng.permutation(pool) for name in names}
    taken = pick_across(rankings, counts)
    everything = np.concatenate([t.rows for t in taken.values()])
    assert len(set(everything.tolist())) == len(everything)
    assert all(len(taken[name].rows) == counts[name] for name in names)  # the pool holds the budget
    again = pick_across(rankings, counts)  # deterministic: the same rankings give the same rows
    assert all(again[name].rows.tolist() == taken[name].rows.tolist() for name in names)
