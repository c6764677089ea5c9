"""The target's sets checked strictly: the reference the validation set fixes, a test set's first bad
row as an error naming it, and the holdout split by content when there is no test set."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from curation.errors import InputError
from curation.formats import Limits
from curation.io.batches import read_rows
from curation.rows import HASH_COLUMN
from curation.validation.target import check_strict, check_target, holdout_split, reference_from


def lines(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_the_validation_set_fixes_the_format_feature_length_and_labels(tmp_path):
    pd.DataFrame({"features": [[0.0, 1.0, 2.0], [1.0, 0.0, 0.5], [2.0, 2.0, 2.0]], "label": [0, 2, 2]}).to_parquet(
        tmp_path / "v.parquet"
    )
    ref, checked = reference_from(read_rows(str(tmp_path / "v.parquet")), "features")
    assert (ref.format, ref.feature_dim, ref.labels, ref.reading) == ("features", 3, (0, 2), None)
    assert checked["id"].tolist() == checked[HASH_COLUMN].tolist() and checked[HASH_COLUMN].is_unique
    pd.DataFrame({"features": [[0.0, 1.0], [1.0, 0.0]], "label": [1, 1]}).to_parquet(tmp_path / "one.parquet")
    with pytest.raises(InputError, match="at least two distinct labels"):
        reference_from(read_rows(str(tmp_path / "one.parquet")), "features")


def test_a_bad_row_in_a_validation_or_test_set_is_an_error_naming_it(tmp_path):
    validation = read_rows(lines(tmp_path / "v.jsonl", [{"prompt": "q", "response": f"fine {i}"} for i in range(3)]))
    ref, _ = reference_from(validation, "text", Limits(max_chars=20))
    test = read_rows(
        lines(tmp_path / "t.jsonl", [{"prompt": "q", "response": "ok"}, {"prompt": "q", "response": "x" * 21}])
    )
    with pytest.raises(InputError, match="invalid row in the test set: response_length") as err:
        check_strict(test, ref, "test set", Limits(max_chars=20))
    assert err.value.file == str(tmp_path / "t.jsonl") and err.value.row == 1 and err.value.field == "response"
    with pytest.raises(InputError, match="required column missing from the test set"):
        check_strict(read_rows(lines(tmp_path / "m.jsonl", [{"text": "only text"}])), ref, "test set")


def test_a_test_set_in_the_other_chat_form_is_normalized_to_the_validation_sets(tmp_path):
    chat = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    share = [{"from": "human", "value": "Bye?"}, {"from": "gpt", "value": "Goodbye."}]
    ref, _ = reference_from(read_rows(lines(tmp_path / "v.jsonl", [{"messages": chat}])), "text")
    test = check_strict(read_rows(lines(tmp_path / "t.jsonl", [{"conversations": share}])), ref, "test set")
    assert test["messages"].iloc[0][0] == {"role": "user", "content": "Bye?"}


def test_the_holdout_is_one_row_in_four_by_content_whatever_the_order():
    rows = pd.DataFrame({HASH_COLUMN: [f"{i:04x}" for i in range(12)], "n": range(12)})
    warm, held = holdout_split(rows)
    assert len(held) == 3 and len(warm) == 9 and set(warm["n"]).isdisjoint(held["n"])
    again = holdout_split(rows.sample(frac=1, random_state=3))[1]
    assert sorted(again["n"]) == sorted(held["n"])
    with pytest.raises(InputError, match="the validation set has 3 rows: without --test, one row in 4") as err:
        holdout_split(rows.iloc[:3])
    assert err.value.field == "--test"


def test_the_target_evaluates_on_the_test_set_or_a_holdout_and_forbids_both_sets_rows(tmp_path):
    validation = read_rows(lines(tmp_path / "v.jsonl", [{"prompt": "q", "response": f"val {i}"} for i in range(8)]))
    test = read_rows(lines(tmp_path / "t.jsonl", [{"prompt": "q", "response": f"test {i}"} for i in range(2)]))
    with_test = check_target(validation, test, "text", Limits())
    assert with_test.eval_set == "test" and len(with_test.warm_rows) == 8 and len(with_test.eval_rows) == 2
    assert with_test.forbidden == frozenset(with_test.validation[HASH_COLUMN]) | frozenset(
        with_test.eval_rows[HASH_COLUMN]
    )
    holdout = check_target(validation, None, "text", Limits())
    assert holdout.eval_set == "validation-holdout" and (len(holdout.warm_rows), len(holdout.eval_rows)) == (6, 2)
    assert holdout.forbidden == frozenset(holdout.validation[HASH_COLUMN])
