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
        ("code=v.parquet:nan", "finite"),
        ("code=v.parquet:-Inf", "finite"),
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


def test_a_targets_file_in_yaml_or_json_gives_each_targets_sets_and_weight(tmp_path):
    from curation.targets import read_targets_file

    (tmp_path / "t.yaml").write_text(
        "targets:\n  - name: code\n    validation: s3://b/code.parquet\n    weight: 3\n    test: code-test.parquet\n"
        "  - {name: math, validation: math.jsonl}\n"
    )
    assert read_targets_file(str(tmp_path / "t.yaml")) == [  # relative paths: from the file's folder
        TargetOption("code", "s3://b/code.parquet", 3.0, str(tmp_path / "code-test.parquet")),
        TargetOption("math", str(tmp_path / "math.jsonl"), 1.0, None),
    ]
    (tmp_path / "t.json").write_text('[{"name": "de", "validation": "de.parquet", "weight": 0.5}]')
    assert read_targets_file(str(tmp_path / "t.json")) == [TargetOption("de", str(tmp_path / "de.parquet"), 0.5)]


def test_a_targets_file_on_s3_places_relative_paths_beside_it(s3_env):
    from curation.storage import write_bytes_atomic
    from curation.targets import read_targets_file

    text = "[{name: a, validation: a.parquet, test: t.parquet}, {name: b, validation: 's3://x/b'}]"
    write_bytes_atomic(f"s3://{s3_env['bucket']}/conf/t.yaml", text.encode())  # through the S3 server
    bucket = s3_env["bucket"]
    assert read_targets_file(f"s3://{bucket}/conf/t.yaml") == [
        TargetOption("a", f"s3://{bucket}/conf/a.parquet", 1.0, f"s3://{bucket}/conf/t.parquet"),
        TargetOption("b", "s3://x/b", 1.0, None),
    ]


@pytest.mark.parametrize(
    "text, words, row, field",
    [
        ("[{name: a, validation: v, wieght: 2}]", "unknown key 'wieght'", 0, "wieght"),
        ("[{name: a, validation: v}, {name: b}]", "a non-empty string is required", 1, "validation"),
        ("[{name: a, validation: v, weight: -1}]", "a finite number above 0", 0, "weight"),
        ("[{name: a, validation: v, weight: true}]", "a finite number above 0", 0, "weight"),
        ("[{name: 'a b', validation: v}]", "letters, digits", 0, "name"),
        ("[{name: a, validation: v, test: 3}]", "a non-empty string, or left out", 0, "test"),
        ("[{name: a, validation: v}, {name: A, validation: w}]", "two targets are named 'A'", None, "--targets-file"),
        ("targets: {name: a}", "expected a list of targets", None, "--targets-file"),
        ("[]", "expected a list of targets", None, "--targets-file"),
        ("[a, b", "not YAML or JSON", None, "--targets-file"),
        ("- just a string", "a target is a mapping", 0, None),
    ],
)
def test_a_bad_targets_file_is_one_error_naming_the_file_the_target_and_the_key(tmp_path, text, words, row, field):
    from curation.targets import read_targets_file

    path = tmp_path / "targets.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=words) as caught:
        read_targets_file(str(path))
    assert (caught.value.file, caught.value.row, caught.value.field) == (str(path), row, field)


def test_a_missing_targets_file_or_one_on_s3(tmp_path, s3_env):
    import fsspec

    from curation.targets import read_targets_file

    with pytest.raises(InputError, match="no such targets file") as caught:
        read_targets_file(str(tmp_path / "none.yaml"))
    assert caught.value.file == str(tmp_path / "none.yaml")
    url = f"s3://{s3_env['bucket']}/targets-{tmp_path.name}.yaml"
    with fsspec.open(url, "w") as handle:
        handle.write("- {name: a, validation: s3://b/a.parquet, weight: 2}\n")
    assert read_targets_file(url) == [TargetOption("a", "s3://b/a.parquet", 2.0)]


def test_weights_near_the_float_limit_split_the_budget_as_small_ones_do():
    from curation.targets import quotas

    assert quotas(100, {"a": 1e308, "b": 1e308}) == quotas(100, {"a": 1.0, "b": 1.0}) == {"a": 50, "b": 50}
    assert quotas(100, {"a": 1e308, "b": 1.0}) == {"a": 100, "b": 0}
    assert quotas(100, {"a": 3e307, "b": 1e307}) == {"a": 75, "b": 25}


def test_a_targets_file_that_is_a_folder_is_bad_input(tmp_path):
    from curation.targets import read_targets_file

    (tmp_path / "targets.yaml").mkdir()
    with pytest.raises(InputError) as err:
        read_targets_file(str(tmp_path / "targets.yaml"))
    assert err.value.field == "--targets-file" and "a folder" in str(err.value)
