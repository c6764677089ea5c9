"""A pool checked for one target (scan, cache, admission): each bad row's reason, pool-level failures,
duplicates and leakage across batches, files and chat forms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curation.errors import InputError
from curation.formats import Limits
from curation.io.batches import read_rows
from curation.io.sources import open_source
from curation.validation.pool import check_pool
from curation.validation.target import reference_from


def _feature_reference(tmp_path):
    validation = pd.DataFrame(
        {"features": [np.array([0.0, 1.0, 2.0])] * 2 + [np.array([1.0, 0.0, 0.0])] * 2, "label": [0, 1, 2, 1]}
    )
    validation["features"] = [v + i for i, v in enumerate(validation["features"])]
    validation.to_parquet(tmp_path / "validation.parquet")
    return reference_from(read_rows(str(tmp_path / "validation.parquet")), "features")


def check_leaking(pool, ref, validation: pd.DataFrame, limits: Limits):
    """check_pool on a pool file, with the validation set's rows as the leakage to find."""
    forbidden = frozenset(validation["_content_hash"])
    return check_pool(open_source(str(pool)), ref, str(pool) + ".spill", limits, forbidden=forbidden)


def test_each_bad_feature_row_is_quarantined_with_its_reason(tmp_path):
    ref, validation = _feature_reference(tmp_path)
    leaked = validation.iloc[0]
    rows = [
        ("ok-1", [1.0, 2.0, 3.0], 0, None),
        ("ok-2", [1.0, 2.0, 4.0], 2, None),
        ("dup-content", [1.0, 2.0, 3.0], 0, "duplicate"),
        ("ok-1", [9.0, 9.0, 9.0], 1, "duplicate_id"),
        ("short", [1.0, 2.0], 1, "feature_length"),
        ("nan", [1.0, float("nan"), 2.0], 1, "non_finite_features"),
        ("inf", [1.0, float("inf"), 2.0], 1, "non_finite_features"),
        ("unknown", [3.0, 2.0, 1.0], 7, "unknown_label"),
        ("null-label", [3.0, 2.0, 5.0], None, "null_label"),
        ("leak", list(map(float, leaked["features"])), int(leaked["label"]), "leakage"),
        ("ok-3", [5.0, 5.0, 5.0], 1, None),
    ] + [(f"fill-{i}", [float(i), 0.5, 0.25], 1, None) for i in range(10)]
    pool = pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "features": [r[1] for r in rows],
            "label": pd.array([r[2] for r in rows], dtype="Int64"),
        }
    )
    pool.to_parquet(tmp_path / "pool.parquet")
    # Small batches: duplicates must be found across batches too.
    checked = check_leaking(tmp_path / "pool.parquet", ref, validation, Limits(batch_rows=4))
    expected = {i: r[3] for i, r in enumerate(rows) if r[3]}
    got = dict(zip(checked.quarantine["_source_row"], checked.quarantine["reason"]))
    assert got == expected
    assert checked.rows_read == len(rows) == checked.valid_rows + len(checked.quarantine)
    assert sum(checked.reasons.values()) == len(checked.quarantine)
    assert len(checked.valid_parts) > 1
    valid = checked.load_valid()
    assert set(valid["id"]) == {r[0] for r in rows if not r[3]}
    assert valid["label"].dtype == np.int64
    by_reason = {e["reason"]: e for e in checked.expectations}
    # Target checks (feature length, labels, leakage) see the rows that passed the pool's own checks.
    target_reasons = {"feature_length", "unknown_label", "leakage", None}
    passed_pool_checks = sum(1 for r in rows if r[3] in target_reasons)
    assert by_reason["feature_length"]["rows_failed"] == 1
    assert by_reason["feature_length"]["rows_checked"] == passed_pool_checks < len(rows)
    assert by_reason["feature_length"]["expectation"].startswith("expect_column_values_to_be_between")


def test_each_bad_text_row_is_quarantined_with_its_reason(tmp_path):
    pd.DataFrame({"prompt": ["q"] * 3, "response": ["a fine answer", "another answer", "a third"]}).to_parquet(
        tmp_path / "validation.parquet"
    )
    ref, validation = reference_from(read_rows(str(tmp_path / "validation.parquet")), "text", Limits(max_chars=40))
    lines = [
        {"prompt": "q", "response": "good answer one"},
        {"prompt": None, "response": "good answer two"},
        {"prompt": "q", "response": ""},
        {"prompt": "q", "response": "x" * 41},
        {"prompt": "q", "response": None},
        {"prompt": "q", "response": 12},
        {"prompt": ["not", "text"], "response": "fine"},
        {"prompt": "q", "response": "a fine answer"},
        {"response": "good answer three"},
    ] + [{"prompt": "p", "response": f"filler {i}"} for i in range(6)]
    (tmp_path / "pool.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    checked = check_leaking(tmp_path / "pool.jsonl", ref, validation, Limits(max_chars=40))
    got = dict(zip(checked.quarantine["_source_row"], checked.quarantine["reason"]))
    assert got == {
        2: "response_length",
        3: "response_length",
        4: "null_response",
        5: "bad_type_response",
        6: "bad_type_prompt",
        7: "leakage",
    }
    valid = checked.load_valid()
    assert valid.loc[valid["response"] == "good answer two", "prompt"].item() == ""
    assert len(valid) == len(lines) - 6


def test_too_many_bad_rows_stop_the_run_naming_the_expectation(tmp_path):
    ref, _ = _feature_reference(tmp_path)
    pd.DataFrame(
        {"features": [[1.0, float(i)] for i in range(6)] + [[1.0, 2.0, float(i)] for i in range(4)], "label": [0] * 10}
    ).to_parquet(tmp_path / "pool.parquet")
    with pytest.raises(InputError) as caught:
        check_pool(open_source(str(tmp_path / "pool.parquet")), ref, str(tmp_path / "spill"), Limits(0.5))
    message = str(caught.value)
    assert "pool.parquet" in message and "row 0" in message and "field 'features'" in message
    assert "expect_column_values_to_be_between" in message and "6 of 10" in message


def test_pass_through_columns_parquet_cannot_store_are_kept_as_json_text(tmp_path):
    """A JSONL `{}` becomes an Arrow struct with no fields, which Parquet refuses: such a column
    (found by the hypothesis property test) passes through as JSON text instead of crashing the run."""
    pd.DataFrame({"prompt": ["q"], "response": ["an answer"]}).to_parquet(tmp_path / "validation.parquet")
    ref, _ = reference_from(read_rows(str(tmp_path / "validation.parquet")), "text")
    lines = [
        {"prompt": "q", "response": "first", "meta": {}, "tags": [{}]},
        {"prompt": "q", "response": "second", "meta": {}, "tags": []},
    ]
    (tmp_path / "pool.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    checked = check_pool(open_source(str(tmp_path / "pool.jsonl")), ref, str(tmp_path / "spill"))
    valid = checked.load_valid()
    assert checked.valid_rows == 2 and len(checked.quarantine) == 0
    assert list(valid["meta"]) == ["{}", "{}"] and list(valid["tags"]) == ["[{}]", "[]"]


def test_the_two_chat_forms_are_interchangeable_between_validation_set_and_pool(tmp_path):
    """A ShareGPT pool (one file) and a messages pool (another) for a messages validation set: both
    admitted, normalized to messages; the same conversation in both forms is one row (a duplicate),
    and a pool row equal to a validation conversation in the other form is leakage."""
    chat = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    other = [{"role": "user", "content": "Bye?"}, {"role": "assistant", "content": "Goodbye."}]
    third = [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "Because."}]
    share = [{"from": {"user": "human", "assistant": "gpt"}[t["role"]], "value": t["content"]} for t in chat]
    (tmp_path / "validation.jsonl").write_text(json.dumps({"messages": chat}) + "\n")
    ref, validation = reference_from(read_rows(str(tmp_path / "validation.jsonl")), "text")
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "a.jsonl").write_text(json.dumps({"conversations": share}) + "\n")  # leaks the validation row
    rows = [{"messages": other}, {"messages": third}, {"messages": other}]
    (pool / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    checked = check_pool(
        open_source(str(pool)), ref, str(tmp_path / "spill"), forbidden=frozenset(validation["_content_hash"])
    )
    assert checked.quarantine["reason"].tolist() == ["leakage", "duplicate"]
    assert [m[0]["content"] for m in checked.load_valid()["messages"]] == ["Bye?", "Why?"]


def test_a_pool_is_scanned_once_per_content_version_and_admitted_for_each_check(tmp_path):
    ref, validation = reference_from(
        read_rows(str(_lines(tmp_path / "v.jsonl", [{"prompt": "v", "response": f"val {i}"} for i in range(4)]))),
        "text",
    )
    pool = _lines(tmp_path / "pool.jsonl", [{"prompt": "q", "response": f"answer {i}"} for i in range(6)])
    first = check_pool(open_source(str(pool)), ref, str(tmp_path / "spill"))
    again = check_pool(open_source(str(pool)), ref, str(tmp_path / "spill"))
    assert (first.cache, again.cache) == ("miss", "hit") and again.valid_rows == first.valid_rows == 6
    _lines(pool, [{"prompt": "q", "response": f"answer {i}"} for i in range(5)])
    assert check_pool(open_source(str(pool)), ref, str(tmp_path / "spill")).cache == "miss"


def _lines(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
