"""Feature rows: a flat numeric vector (never text that looks like numbers, never beyond float32) and
a whole-number label; the validation set fixes the vector length and the labels for every pool."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from curation.formats import Limits
from curation.formats.features import Features, label_value, vector_facts


def test_feature_facts_tell_missing_mistyped_and_overflowing_vectors_apart():
    frame = pd.DataFrame(
        {"features": [[1.0, 2.0], None, ["1", "2"], [1e39, 0.0]], "label": [0, 1, 2.5, True]}
    )  # fmt: skip
    facts = Features().facts(frame)
    assert facts["_features_length"].tolist() == [2, -1, -2, 2]
    assert facts["_features_finite"].tolist() == [True, True, True, False]
    assert facts["_label"][:2].tolist() == [0.0, 1.0] and np.isneginf(facts["_label"][2:]).all()


def test_a_vector_is_a_flat_list_or_array_of_numbers():
    assert vector_facts(np.array([1, 2, 3], dtype=np.int32)) == (3, True)
    assert vector_facts([1, 2.5]) == (2, True)
    assert vector_facts(np.array([np.inf])) == (1, False)
    for bad in ("12", b"12", {"a": 1}, 3.0, [[1, 2], [3, 4]], [True, False], np.array([1, "a"], dtype=object)):
        assert vector_facts(bad) == (-2, True), bad
    assert vector_facts(float("nan")) == (-1, True)


def test_a_label_is_a_whole_number_or_nan_when_null():
    assert label_value(3) == 3.0 and label_value(np.int64(2)) == 2.0 and label_value(4.0) == 4.0
    assert math.isnan(label_value(None))
    for bad in (2.5, "1", True, np.bool_(False)):
        assert label_value(bad) == -math.inf, bad


def test_the_validation_set_fixes_the_length_and_the_labels_every_pool_must_match():
    validation = pd.DataFrame(
        {"features": [[0.0, 1.0, 2.0]] * 3 + [[0.0]], "label": [2, 0, 2.0, 70_000]}
    )  # fmt: skip
    fixed = Features().fixed_by(validation)
    assert fixed == {"feature_dim": 3, "labels": (0, 2)}  # the most common length; a label out of range is none
    length, labels = Features().target_checks(fixed)
    assert (length.reason, length.options) == ("feature_length", {"min_value": 3, "max_value": 3})
    assert (labels.reason, labels.options["value_set"]) == ("unknown_label", [0.0, 2.0])
    assert "[0, 2]" in labels.hint


def test_the_checks_cover_the_vector_then_the_label():
    reasons = [check.reason for check in Features().checks(Limits())]
    assert reasons == ["null_features", "bad_type_features", "non_finite_features", "null_label", "bad_label"]


def test_valid_rows_become_float32_vectors_and_integer_labels():
    normal = Features().normalize(pd.DataFrame({"features": [[1, 2], np.array([3.5, 4.0])], "label": [1.0, 0.0]}))
    assert [v.dtype for v in normal["features"]] == [np.float32, np.float32]
    assert normal["features"].iloc[1].tolist() == [3.5, 4.0]
    assert normal["label"].dtype == np.int64 and normal["label"].tolist() == [1, 0]


def per_row_facts(frame: pd.DataFrame) -> dict[str, list]:
    vectors = [vector_facts(v) for v in frame["features"]]
    return {
        "_features_length": [n for n, _ in vectors],
        "_features_finite": [ok for _, ok in vectors],
        "_label": [label_value(v) for v in frame["label"]],
    }


@pytest.mark.parametrize(
    "features, labels",
    [
        ([np.array([0.5, -1.0], dtype=np.float32), np.array([1e39, 2.0]), np.array([np.nan, 0.0])], [0, 1, 2]),
        ([np.array([1, 2], dtype=np.int64), np.array([3.0, np.inf])], [0.0, 2.5]),
        ([np.array([1.0, 2.0]), np.array([1.0])], pd.array([1, None], dtype="Int64")),  # two lengths: per row
        ([np.array([1.0, 2.0]), [1.0, "x"]], [np.nan, np.inf]),  # a list and a text: per row
        ([np.array([1.0, 2.0]), None], [True, -0.0]),  # a null vector, a bool label
        ([np.array(["a", "b"])], [-3]),  # a text array
    ],
)
def test_the_facts_taken_at_once_are_the_per_row_facts(features, labels):
    """Feature rows as Parquet lists arrive (one length, numeric) are judged at once; anything else per row;
    both give the same facts, so the checks quarantine the same rows."""
    frame = pd.DataFrame({"features": pd.Series(features, dtype=object), "label": labels})
    found = Features().facts(frame)
    expected = per_row_facts(frame)
    assert found["_features_length"].tolist() == expected["_features_length"]
    assert found["_features_finite"].tolist() == expected["_features_finite"]
    np.testing.assert_array_equal(found["_label"], np.array(expected["_label"], dtype=np.float64))
